# Stage 3: run every response with its tests in the sandbox, then select the training pairs.


rule execute_shard:
    input:
        f"{GEN}/responses.jsonl",
    output:
        f"{DATASET}/execution/shard-{{shard}}.jsonl",
    log:
        f"{LOGS}/select/execute-{{shard}}.log",
    benchmark:
        f"{BENCH}/select/execute-{{shard}}.tsv"
    wildcard_constraints:
        shard=r"\d+",
    conda:
        "../../envs/seeds.yaml"
    threads: config["execution"]["threads"]
    resources:
        mem_mb=lambda wildcards, threads: 1000 + 600 * threads,
        runtime=720,
    params:
        execution=settings("execution"),
        shards=EXEC_SHARDS,
    shell:
        "python -m selfcodealign select execute --settings {params.execution:q}"
        " --input {input} --shard {wildcards.shard} --shards {params.shards}"
        " --workers {threads} --output {output} 2> {log}"


rule execute_gather:
    input:
        expand(f"{DATASET}/execution/shard-{{shard}}.jsonl", shard=range(EXEC_SHARDS)),
    output:
        f"{DATASET}/execution.jsonl",
    log:
        f"{LOGS}/select/execute-gather.log",
    conda:
        "../../envs/seeds.yaml"
    shell:
        "python -m selfcodealign select gather --inputs {input} --output {output} 2> {log}"


rule select:
    input:
        responses=f"{GEN}/responses.jsonl",
        executions=rules.execute_gather.output[0],
        benchmarks=rules.seeds_benchmark_texts.output[0],
    output:
        sft=f"{DATASET}/sft.jsonl",
        funnel=f"{DATASET}/funnel.json",
        stats=f"{DATASET}/instruction_stats.json",
    log:
        f"{LOGS}/select/select.log",
    benchmark:
        f"{BENCH}/select/select.tsv"
    conda:
        "../../envs/seeds.yaml"
    params:
        selection=settings("selection"),
        seed=config["seed"],
    shell:
        "python -m selfcodealign select select --settings {params.selection:q}"
        " --responses {input.responses} --executions {input.executions}"
        " --benchmarks {input.benchmarks} --seed {params.seed} --output {output.sft}"
        " --funnel {output.funnel} --stats {output.stats} 2> {log}"
