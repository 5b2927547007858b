# Stage 2: Self-OSS-Instruct. seeds -> concepts (S->C) -> instructions (C->I) -> responses (I->R).
# Each step runs as one job per shard (resumable), then a gather job joins the shards.


rule demo_model:
    output:
        directory(f"{RESULTS}/demo-model"),
    log:
        f"{LOGS}/instruct/demo_model.log",
    benchmark:
        f"{BENCH}/instruct/demo_model.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        demo_model=settings("demo_model"),
        pool=POOL_DIGEST,
        shots=json.dumps(PROMPT_SHOTS, sort_keys=True),
        seed=config["seed"],
    shell:
        "python -m selfcodealign instruct demo-model --settings {params.demo_model:q}"
        " --shots {params.shots:q} --seed {params.seed} --output {output} 2> {log}"


rule instruct_snippets:
    input:
        sources=expand(rules.seeds_plan.output, seeds=SEEDS, shard=SHARDS),
        seeds=f"{SEEDS}/seeds.jsonl",
    output:
        f"{GEN}/snippets.jsonl",
    log:
        f"{LOGS}/instruct/snippets.log",
    conda:
        "../../envs/seeds.yaml"
    params:
        seed=config["seed"],
    shell:
        "python -m selfcodealign instruct snippets --sources {input.sources}"
        " --count-like {input.seeds} --seed {params.seed} --output {output} 2> {log}"


rule instruct_shard:
    input:
        rows=lambda wildcards: step_input(wildcards.step),
        model=MODEL_INPUTS,
    output:
        f"{GEN}/{{step}}/shard-{{shard}}.jsonl",
    log:
        f"{LOGS}/instruct/{{step}}-{{shard}}.log",
    benchmark:
        f"{BENCH}/instruct/{{step}}-{{shard}}.tsv"
    wildcard_constraints:
        step="concepts|instructions|responses",
        shard=r"\d+",
    conda:
        "../../envs/generate.yaml"
    resources:
        gpu=GEN_GPUS,
        mem_mb=64000 if GEN_GPUS else 8000,
        runtime=1440,
    params:
        mode=lambda wildcards: STEP_MODE[wildcards.step],
        sampling=lambda wildcards: settings("generation", wildcards.step),
        max_rows=lambda wildcards: max_rows_flag(wildcards.step),
        model=MODEL_JSON,
        openai=settings("openai"),
        pool=POOL_DIGEST,
        seed=config["seed"],
        batch_size=config["generation"]["batch_size"],
        shards=GEN_SHARDS,
        gpus=GEN_GPUS,
    shell:
        "python -m selfcodealign instruct run --mode {params.mode}"
        " --settings {params.sampling:q} --model {params.model:q} --openai {params.openai:q}"
        " --input {input.rows} --shard {wildcards.shard} --shards {params.shards}"
        " {params.max_rows} --batch-size {params.batch_size} --gpus {params.gpus}"
        " --seed {params.seed} --output {output} 2> {log}"


rule instruct_gather:
    input:
        expand(f"{GEN}/{{{{step}}}}/shard-{{shard}}.jsonl", shard=range(GEN_SHARDS)),
    output:
        rows=f"{GEN}/{{step}}.jsonl",
        counts=f"{GEN}/counts/{{step}}.json",
    log:
        f"{LOGS}/instruct/{{step}}-gather.log",
    wildcard_constraints:
        step="concepts|instructions|responses",
    conda:
        "../../envs/seeds.yaml"
    params:
        mode=lambda wildcards: STEP_MODE[wildcards.step],
    shell:
        "python -m selfcodealign instruct gather --mode {params.mode} --inputs {input}"
        " --output {output.rows} --counts {output.counts} 2> {log}"
