# Stage 3: run every response with its tests in the sandbox (once per generated dataset), then
# select the training pairs (once per dataset: a variant selects from its root's verdicts).
# External datasets are read as they are.


# A Hub dataset downloads on the submitting node: compute nodes often have no internet. It runs
# on the host, not in an image (the images have no network).
# Joining the sandbox's shards takes seconds: not worth a cluster job.
localrules:
    external_dataset,
    execute_gather,


rule execute_shard:
    input:
        f"{GEN}/responses.jsonl",
    output:
        f"{DATA}/execution/shard-{{shard}}.jsonl",
    log:
        f"{LOGS}/data/{{dataset}}/execute-{{shard}}.log",
    benchmark:
        f"{BENCH}/data/{{dataset}}/execute-{{shard}}.tsv"
    wildcard_constraints:
        dataset=one_of(EXP.generated()),
    conda:
        "../../envs/sandbox.yaml"
    container:
        image("sandbox")
    threads: lambda wildcards: generated(wildcards)["execution"]["threads"]
    resources:
        mem_mb=more_memory(lambda wildcards, threads, input: 1000 + 600 * threads),
        # Resumable: an attempt continues from the shard's partial verdicts.
        runtime=720,
    params:
        key=lambda wildcards: determinants(
            "execution",
            execution=without(
                generated(wildcards)["execution"], RUNTIME_KEYS["execution"]
            ),
        ),
        shards=lambda wildcards: generated(wildcards)["execution"]["shards"],
        execution=lambda wildcards, input: dumps(generated(wildcards)["execution"]),
    shell:
        "python -m selfcodealign select execute --settings {params.execution:q}"
        " --input {input} --shard {wildcards.shard} --shards {params.shards}"
        " --workers {threads} --output {output} 2> {log}"


rule execute_gather:
    input:
        lambda wildcards: expand(
            f"{RESULTS}/data/{wildcards.dataset}/execution/shard-{{shard}}.jsonl",
            shard=range(generated(wildcards)["execution"]["shards"]),
        ),
    output:
        f"{DATA}/execution.jsonl",
    log:
        f"{LOGS}/data/{{dataset}}/execute-gather.log",
    wildcard_constraints:
        dataset=one_of(EXP.generated()),
    conda:
        "../../envs/sandbox.yaml"
    container:
        image("sandbox")
    params:
        key=lambda wildcards: determinants("execution"),
    shell:
        "python -m selfcodealign select gather --inputs {input} --output {output} 2> {log}"


rule select:
    input:
        responses=root_file("generation/responses.jsonl"),
        executions=root_file("execution.jsonl"),
        benchmarks=benchmark_texts,
        size_like=size_like,
    output:
        sft=f"{DATA}/sft.jsonl",
        funnel=f"{DATA}/funnel.json",
        stats=f"{DATA}/instruction_stats.json",
    log:
        f"{LOGS}/data/{{dataset}}/select.log",
    benchmark:
        f"{BENCH}/data/{{dataset}}/select.tsv"
    wildcard_constraints:
        dataset=one_of(EXP.selected()),
    conda:
        "../../envs/sandbox.yaml"
    container:
        image("sandbox")
    resources:
        # MinHash signatures and the LSH index of the passing responses.
        mem_mb=more_memory(16000),
        runtime=more_time(240),
    params:
        key=lambda wildcards: determinants(
            "selection", selection=generated(wildcards)["selection"], seed=SEED
        ),
        selection=lambda wildcards: dumps(generated(wildcards)["selection"]),
        size_like=lambda wildcards, input: (
            f"--size-like {input.size_like[0]}" if input.size_like else ""
        ),
        seed=SEED,
    shell:
        "python -m selfcodealign select select --settings {params.selection:q}"
        " --responses {input.responses} --executions {input.executions}"
        " --benchmarks {input.benchmarks} {params.size_like} --seed {params.seed}"
        " --output {output.sft} --funnel {output.funnel} --stats {output.stats} 2> {log}"


rule external_dataset:
    input:
        lambda wildcards: (
            [path] if (path := dataset(wildcards).settings["external"]["path"]) else []
        ),
    output:
        sft=f"{DATA}/sft.jsonl",
        funnel=f"{DATA}/funnel.json",
    log:
        f"{LOGS}/data/{{dataset}}/external.log",
    wildcard_constraints:
        dataset=one_of(EXP.external()),
    conda:
        "../../envs/seeds.yaml"
    params:
        key=lambda wildcards: determinants(
            "selection", external=dataset(wildcards).settings["external"]
        ),
        external=lambda wildcards: dumps(dataset(wildcards).settings["external"]),
    shell:
        "python -m selfcodealign select external --settings {params.external:q}"
        " --output {output.sft} --funnel {output.funnel} 2> {log}"
