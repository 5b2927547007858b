# Stage 1: seed functions. source -> extract -> static filters -> type check -> dedup -> judge.


rule seeds_plan:
    output:
        expand("{seeds}/source/shard-{shard}.json", seeds=SEEDS, shard=SHARDS),
    log:
        f"{LOGS}/seeds/plan.log",
    conda:
        "../../envs/seeds.yaml"
    params:
        source=settings("seeds", "source"),
        shards=len(SHARDS),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        "python -m selfcodealign seeds plan --settings {params.source:q} --shards {params.shards}"
        " --outdir {params.outdir} 2> {log}"


rule seeds_extract:
    input:
        f"{SEEDS}/source/shard-{{shard}}.json",
    output:
        records=f"{SEEDS}/extracted/shard-{{shard}}.jsonl",
        counts=f"{SEEDS}/counts/extract-{{shard}}.json",
    log:
        f"{LOGS}/seeds/extract-{{shard}}.log",
    benchmark:
        f"{BENCH}/seeds/extract-{{shard}}.tsv"
    conda:
        "../../envs/seeds.yaml"
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        extract=settings("seeds", "extract"),
    shell:
        "python -m selfcodealign seeds extract --settings {params.extract:q} --shard {input}"
        " --output {output.records} --counts {output.counts} 2> {log}"


rule seeds_benchmark_texts:
    output:
        f"{SEEDS}/decontamination/benchmark_texts.json",
    log:
        f"{LOGS}/seeds/benchmark_texts.log",
    conda:
        "../../envs/seeds.yaml"
    params:
        decontamination=settings("seeds", "decontamination"),
    shell:
        "python -m selfcodealign seeds benchmark-texts --settings {params.decontamination:q}"
        " --output {output} 2> {log}"


rule seeds_filter:
    input:
        records=rules.seeds_extract.output.records,
        benchmarks=rules.seeds_benchmark_texts.output[0],
    output:
        records=f"{SEEDS}/filtered/shard-{{shard}}.jsonl",
        counts=f"{SEEDS}/counts/filter-{{shard}}.json",
    log:
        f"{LOGS}/seeds/filter-{{shard}}.log",
    benchmark:
        f"{BENCH}/seeds/filter-{{shard}}.tsv"
    conda:
        "../../envs/seeds.yaml"
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        filters=settings("seeds", "filters"),
    shell:
        "python -m selfcodealign seeds filter --settings {params.filters:q} --input {input.records}"
        " --benchmarks {input.benchmarks} --output {output.records}"
        " --counts {output.counts} 2> {log}"


rule seeds_typecheck:
    input:
        rules.seeds_filter.output.records,
    output:
        records=f"{SEEDS}/typechecked/shard-{{shard}}.jsonl",
        counts=f"{SEEDS}/counts/typecheck-{{shard}}.json",
    log:
        f"{LOGS}/seeds/typecheck-{{shard}}.log",
    benchmark:
        f"{BENCH}/seeds/typecheck-{{shard}}.tsv"
    conda:
        "../../envs/seeds.yaml"
    resources:
        mem_mb=8000,
        runtime=720,
    params:
        typecheck=settings("seeds", "typecheck"),
    shell:
        "python -m selfcodealign seeds typecheck --settings {params.typecheck:q} --input {input}"
        " --output {output.records} --counts {output.counts} 2> {log}"


rule seeds_dedup:
    input:
        seed_dedup_inputs(),
    output:
        records=f"{SEEDS}/deduplicated.jsonl",
        counts=f"{SEEDS}/counts/dedup.json",
    log:
        f"{LOGS}/seeds/dedup.log",
    benchmark:
        f"{BENCH}/seeds/dedup.tsv"
    conda:
        "../../envs/seeds.yaml"
    threads: 8
    resources:
        # The LSH index costs about 8 KB per function: about 8x the JSONL input, plus headroom.
        mem_mb=lambda wildcards, input: int(2000 + 10 * input.size_mb),
        runtime=720,
    params:
        dedup=settings("seeds", "dedup"),
        seed=config["seed"],
    shell:
        "python -m selfcodealign seeds dedup --settings {params.dedup:q} --seed {params.seed}"
        " --workers {threads} --inputs {input} --output {output.records}"
        " --counts {output.counts} 2> {log}"


rule seeds_judge:
    input:
        rules.seeds_dedup.output.records,
    output:
        records=f"{SEEDS}/judged.jsonl",
        counts=f"{SEEDS}/counts/judge.json",
    log:
        f"{LOGS}/seeds/judge.log",
    benchmark:
        f"{BENCH}/seeds/judge.tsv"
    conda:
        "../../envs/generate.yaml"
    resources:
        gpu=JUDGE_GPUS,
        mem_mb=64000,
        runtime=720,
    params:
        judge=settings("seeds", "judge"),
        model=settings("model"),
        seed=config["seed"],
        gpus=JUDGE_GPUS,
    shell:
        "python -m selfcodealign seeds judge --settings {params.judge:q} --model {params.model:q}"
        " --gpus {params.gpus} --seed {params.seed} --input {input}"
        " --output {output.records} --counts {output.counts} 2> {log}"


rule seeds_gather:
    input:
        records=seed_final_records(),
        counts=seed_step_counts(),
    output:
        seeds=f"{SEEDS}/seeds.jsonl",
        funnel=f"{SEEDS}/funnel.json",
    log:
        f"{LOGS}/seeds/gather.log",
    conda:
        "../../envs/seeds.yaml"
    shell:
        "python -m selfcodealign seeds gather --input {input.records} --counts {input.counts}"
        " --output {output.seeds} --funnel {output.funnel} 2> {log}"
