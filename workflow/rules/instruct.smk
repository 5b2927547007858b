# Stage 2: Self-OSS-Instruct, per generated dataset. seeds -> concepts (S->C) -> instructions
# (C->I, or S->I in the ablation) -> responses (I->R). Each step runs as one job per shard
# (resumable), then a gather job joins the shards.


# Joining shards takes seconds: not worth a cluster job. A Hub model downloads on the
# submitting node: compute nodes often have no internet.
localrules:
    instruct_gather,
    stage_model,


# A Hub model (models.<name>.id) is downloaded once, at the commit its revision points at, and
# every job that uses it reads the staged directory. It runs on the host (no container: the
# images have no network), with huggingface_hub from the seeds env; HF_TOKEN reaches it for
# gated models.
rule stage_model:
    output:
        directory(f"{RESULTS}/base-models/{{model}}"),
    log:
        f"{LOGS}/base-models/{{model}}.log",
    wildcard_constraints:
        model=one_of(EXP.staged_models()),
    conda:
        "../../envs/seeds.yaml"
    params:
        key=lambda wildcards: determinants(
            "stage", model=EXP.model_identity(wildcards.model)
        ),
        id=lambda wildcards: EXP.models[wildcards.model]["id"],
        revision=lambda wildcards: (
            f"--revision {rev}"
            if (rev := EXP.models[wildcards.model]["revision"])
            else ""
        ),
    shell:
        "python -m selfcodealign stage-model --id {params.id:q} {params.revision}"
        " --output {output} > {log} 2>&1"


rule base_model:
    output:
        directory(f"{RESULTS}/base-models/{{model}}"),
    log:
        f"{LOGS}/base-models/{{model}}.log",
    benchmark:
        f"{BENCH}/base-models/{{model}}.tsv"
    wildcard_constraints:
        model=one_of(EXP.models_from("build")),
    conda:
        "../../envs/train.yaml"
    container:
        image("train")
    threads: 2
    resources:
        mem_mb=more_memory(4000),
        runtime=more_time(60),
    params:
        key=lambda wildcards: determinants(
            "demo_model", build=EXP.models[wildcards.model]["build"]
        ),
        build=lambda wildcards: dumps(EXP.models[wildcards.model]["build"]),
        shots=lambda wildcards: dumps(EXP.models[wildcards.model]["build"]["shots"]),
        seed=lambda wildcards: EXP.models[wildcards.model]["build"]["seed"],
    shell:
        "python -m selfcodealign instruct demo-model --settings {params.build:q}"
        " --shots {params.shots:q} --seed {params.seed} --output {output} 2> {log}"


# A GGUF file (a path, or a file inside an installed package) becomes a plain model directory
# once; every job that uses the model reads that directory.
rule import_gguf:
    output:
        directory(f"{RESULTS}/base-models/{{model}}"),
    log:
        f"{LOGS}/base-models/{{model}}.log",
    benchmark:
        f"{BENCH}/base-models/{{model}}.tsv"
    wildcard_constraints:
        model=one_of(EXP.models_from("gguf")),
    conda:
        "../../envs/train.yaml"
    container:
        image("train")
    resources:
        mem_mb=more_memory(16000),
        runtime=more_time(60),
    params:
        key=lambda wildcards: determinants(
            "gguf",
            gguf=EXP.models[wildcards.model]["gguf"],
            dtype=gguf_dtype(wildcards),
        ),
        source=lambda wildcards: EXP.models[wildcards.model]["gguf"],
        dtype=gguf_dtype,
    shell:
        "python -m selfcodealign import-gguf --source {params.source:q} --dtype {params.dtype}"
        " --output {output} 2> {log}"


rule instruct_shard:
    input:
        rows=step_input,
        model=lambda wildcards: built_model_input(generator(wildcards)),
    output:
        f"{GEN}/{{step}}/shard-{{shard}}.jsonl",
    log:
        f"{LOGS}/data/{{dataset}}/{{step}}-{{shard}}.log",
    benchmark:
        f"{BENCH}/data/{{dataset}}/{{step}}-{{shard}}.tsv"
    wildcard_constraints:
        dataset=one_of(EXP.generated()),
    conda:
        "../../envs/generate.yaml"
    container:
        image("generate")
    # On CPU, one torch thread a shard: shard a dataset to use more cores (on 2 cores, two
    # 1-thread shards outran one 2-thread job, and never fight over cores).
    threads: lambda wildcards: gpu_threads(EXP.gpus(generator(wildcards), "generation"))
    resources:
        gpu=lambda wildcards: EXP.gpus(generator(wildcards), "generation"),
        mem_mb=more_memory(
            lambda wildcards, threads, input: (
                64000 if EXP.gpus(generator(wildcards), "generation") else 8000
            )
        ),
        # A shard resumes from its partial output in the next attempt.
        runtime=1440,
    params:
        key=generation_determinants,
        mode=lambda wildcards: EXP.steps(wildcards.dataset)[wildcards.step],
        sampling=lambda wildcards: dumps(
            generated(wildcards)["generation"][wildcards.step]
        ),
        max_rows=lambda wildcards: (
            f"--max-rows {max_rows(wildcards)}" if max_rows(wildcards) else ""
        ),
        shards=lambda wildcards: generated(wildcards)["generation"]["shards"],
        seed=SEED,
        model=lambda wildcards, input: dumps(EXP.model_section(generator(wildcards))),
        openai=lambda wildcards, input: dumps(EXP.openai),
        batch_size=lambda wildcards, input: generated(wildcards)["generation"][
            "batch_size"
        ],
        gpus=lambda wildcards, input: EXP.gpus(generator(wildcards), "generation"),
    shell:
        "OMP_NUM_THREADS={threads} python -m selfcodealign instruct run --mode {params.mode}"
        " --settings {params.sampling:q} --model {params.model:q} --openai {params.openai:q}"
        " --input {input.rows} --shard {wildcards.shard} --shards {params.shards}"
        " {params.max_rows} --batch-size {params.batch_size} --gpus {params.gpus}"
        " --seed {params.seed} --output {output} 2> {log}"


rule instruct_gather:
    input:
        lambda wildcards: expand(
            f"{RESULTS}/data/{wildcards.dataset}/generation/{wildcards.step}/shard-{{shard}}.jsonl",
            shard=range(generated(wildcards)["generation"]["shards"]),
        ),
    output:
        rows=f"{GEN}/{{step}}.jsonl",
        counts=f"{GEN}/counts/{{step}}.json",
    log:
        f"{LOGS}/data/{{dataset}}/{{step}}-gather.log",
    wildcard_constraints:
        dataset=one_of(EXP.generated()),
    conda:
        "../../envs/generate.yaml"
    container:
        image("generate")
    params:
        key=lambda wildcards: determinants("generation"),
        mode=lambda wildcards: EXP.steps(wildcards.dataset)[wildcards.step],
    shell:
        "python -m selfcodealign instruct gather --mode {params.mode} --inputs {input}"
        " --output {output.rows} --counts {output.counts} 2> {log}"
