# Stage 1: seed functions, per seed set. source -> extract -> static filters -> type check ->
# dedup -> judge -> gather (with the optional subsample). A seed set that subsamples another
# (subsample_of) runs only the gather, on the other's records.


# On the submitting node: the plan stages the source (a Hub dataset's files), the benchmark
# texts download MBPP (both on the host, not in an image: the images have no network), and the
# gathers only join files.
localrules:
    seeds_plan,
    seeds_benchmark_texts,
    seeds_judge_gather,
    seeds_gather,


rule seeds_plan:
    output:
        directory(f"{SEEDS}/source"),
    log:
        f"{LOGS}/seeds/{{seedset}}/plan.log",
    wildcard_constraints:
        seedset=one_of(EXP.seed_roots()),
    conda:
        "../../envs/seeds.yaml"
    params:
        key=lambda wildcards: determinants(
            "seeds",
            source=seedset(wildcards)["source"],
            shards=seedset(wildcards)["shards"],
        ),
        source=seed_settings("source"),
        shards=lambda wildcards: seedset(wildcards)["shards"],
    shell:
        "python -m selfcodealign seeds plan --settings {params.source:q} --shards {params.shards}"
        " --outdir {output} 2> {log}"


rule seeds_extract:
    input:
        rules.seeds_plan.output[0],
    output:
        records=f"{SEEDS}/extracted/shard-{{shard}}.jsonl",
        counts=f"{SEEDS}/counts/extract-{{shard}}.json",
    log:
        f"{LOGS}/seeds/{{seedset}}/extract-{{shard}}.log",
    benchmark:
        f"{BENCH}/seeds/{{seedset}}/extract-{{shard}}.tsv"
    wildcard_constraints:
        seedset=one_of(EXP.seed_roots()),
    conda:
        "../../envs/seeds.yaml"
    container:
        image("seeds")
    resources:
        mem_mb=more_memory(4000),
        runtime=more_time(240),
    params:
        key=lambda wildcards: determinants("seeds"),
        extract=seed_settings("extract"),
    shell:
        "python -m selfcodealign seeds extract --settings {params.extract:q}"
        " --shard {input}/shard-{wildcards.shard}.json"
        " --output {output.records} --counts {output.counts} 2> {log}"


rule seeds_benchmark_texts:
    output:
        f"{SEEDS}/decontamination/benchmark_texts.json",
    log:
        f"{LOGS}/seeds/{{seedset}}/benchmark_texts.log",
    wildcard_constraints:
        seedset=one_of(EXP.seed_roots()),
    conda:
        "../../envs/seeds.yaml"
    params:
        key=lambda wildcards: determinants("seeds"),
        decontamination=seed_settings("decontamination"),
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
        f"{LOGS}/seeds/{{seedset}}/filter-{{shard}}.log",
    benchmark:
        f"{BENCH}/seeds/{{seedset}}/filter-{{shard}}.tsv"
    wildcard_constraints:
        seedset=one_of(EXP.seed_roots()),
    conda:
        "../../envs/seeds.yaml"
    container:
        image("seeds")
    resources:
        mem_mb=more_memory(4000),
        runtime=more_time(120),
    params:
        key=lambda wildcards: determinants("seeds"),
        filters=seed_settings("filters"),
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
        f"{LOGS}/seeds/{{seedset}}/typecheck-{{shard}}.log",
    benchmark:
        f"{BENCH}/seeds/{{seedset}}/typecheck-{{shard}}.tsv"
    wildcard_constraints:
        seedset=one_of(EXP.seed_roots()),
    conda:
        "../../envs/seeds.yaml"
    container:
        image("seeds")
    resources:
        mem_mb=more_memory(8000),
        runtime=more_time(720),
    params:
        key=lambda wildcards: determinants(
            "seeds",
            typecheck=without(
                seedset(wildcards)["typecheck"], RUNTIME_KEYS["typecheck"]
            ),
        ),
        typecheck=lambda wildcards, input: dumps(seedset(wildcards)["typecheck"]),
    shell:
        "python -m selfcodealign seeds typecheck --settings {params.typecheck:q} --input {input}"
        " --output {output.records} --counts {output.counts} 2> {log}"


rule seeds_dedup:
    input:
        seed_dedup_inputs,
    output:
        records=f"{SEEDS}/deduplicated.jsonl",
        counts=f"{SEEDS}/counts/dedup.json",
    log:
        f"{LOGS}/seeds/{{seedset}}/dedup.log",
    benchmark:
        f"{BENCH}/seeds/{{seedset}}/dedup.tsv"
    wildcard_constraints:
        seedset=one_of(EXP.seed_roots()),
    conda:
        "../../envs/seeds.yaml"
    container:
        image("seeds")
    threads: 8
    resources:
        # The LSH index costs about 8 KB per function: about 8x the JSONL input, plus headroom.
        mem_mb=more_memory(lambda wildcards, threads, input: 2000 + 10 * input.size_mb),
        runtime=more_time(720),
    params:
        key=lambda wildcards: determinants("seeds", seed=SEED),
        dedup=seed_settings("dedup"),
        seed=SEED,
    shell:
        "python -m selfcodealign seeds dedup --settings {params.dedup:q} --seed {params.seed}"
        " --workers {threads} --inputs {input} --output {output.records}"
        " --counts {output.counts} 2> {log}"


rule seeds_judge:
    input:
        records=rules.seeds_dedup.output.records,
        model=lambda wildcards: built_model_input(judge_model(wildcards)),
    output:
        f"{SEEDS}/judged/shard-{{shard}}.jsonl",
    log:
        f"{LOGS}/seeds/{{seedset}}/judge-{{shard}}.log",
    benchmark:
        f"{BENCH}/seeds/{{seedset}}/judge-{{shard}}.tsv"
    wildcard_constraints:
        seedset=one_of(EXP.seed_roots()),
    conda:
        "../../envs/generate.yaml"
    container:
        image("generate")
    threads: lambda wildcards: gpu_threads(EXP.gpus(judge_model(wildcards), "judge"))
    resources:
        gpu=lambda wildcards: EXP.gpus(judge_model(wildcards), "judge"),
        mem_mb=more_memory(64000),
        # Resumable: an attempt continues from the shard's verdicts so far.
        runtime=720,
    params:
        key=lambda wildcards: determinants(
            "judge",
            judge=without(seedset(wildcards)["judge"], RUNTIME_KEYS["judge"]),
            model=EXP.model_identity(judge_model(wildcards)),
            seed=SEED,
        ),
        judge=lambda wildcards, input: dumps(seedset(wildcards)["judge"]),
        model=lambda wildcards, input: dumps(EXP.model_section(judge_model(wildcards))),
        gpus=lambda wildcards, input: EXP.gpus(judge_model(wildcards), "judge"),
        shards=lambda wildcards, input: seedset(wildcards)["judge"]["shards"],
        seed=SEED,
    shell:
        "python -m selfcodealign seeds judge --settings {params.judge:q} --model {params.model:q}"
        " --gpus {params.gpus} --seed {params.seed} --input {input.records}"
        " --shard {wildcards.shard} --shards {params.shards} --output {output} 2> {log}"


rule seeds_judge_gather:
    input:
        lambda wildcards: expand(
            f"{RESULTS}/seeds/{wildcards.seedset}/judged/shard-{{shard}}.jsonl",
            shard=range(seedset(wildcards)["judge"]["shards"]),
        ),
    output:
        records=f"{SEEDS}/judged.jsonl",
        counts=f"{SEEDS}/counts/judge.json",
    log:
        f"{LOGS}/seeds/{{seedset}}/judge-gather.log",
    wildcard_constraints:
        seedset=one_of(EXP.seed_roots()),
    conda:
        "../../envs/seeds.yaml"
    container:
        image("seeds")
    params:
        key=lambda wildcards: determinants("judge"),
    shell:
        "python -m selfcodealign seeds judge-gather --inputs {input}"
        " --output {output.records} --counts {output.counts} 2> {log}"


rule seeds_gather:
    input:
        records=seed_final_records,
        counts=seed_step_counts,
    output:
        seeds=f"{SEEDS}/seeds.jsonl",
        funnel=f"{SEEDS}/funnel.json",
    log:
        f"{LOGS}/seeds/{{seedset}}/gather.log",
    conda:
        "../../envs/seeds.yaml"
    container:
        image("seeds")
    params:
        key=lambda wildcards: determinants(
            "seeds", subsample=seedset(wildcards)["subsample"], seed=SEED
        ),
        subsample=lambda wildcards: (
            f"--subsample {seedset(wildcards)['subsample']}"
            if seedset(wildcards)["subsample"]
            else ""
        ),
        seed=SEED,
    shell:
        "python -m selfcodealign seeds gather --input {input.records} --counts {input.counts}"
        " {params.subsample} --seed {params.seed}"
        " --output {output.seeds} --funnel {output.funnel} 2> {log}"


rule seeds_snippets:
    input:
        sources=lambda wildcards: f"{RESULTS}/seeds/{seed_root(wildcards).seedset}/source",
        seeds=rules.seeds_gather.output.seeds,
    output:
        f"{SEEDS}/snippets.jsonl",
    log:
        f"{LOGS}/seeds/{{seedset}}/snippets.log",
    conda:
        "../../envs/seeds.yaml"
    container:
        image("seeds")
    resources:
        mem_mb=more_memory(4000),
        runtime=more_time(60),
    params:
        key=lambda wildcards: determinants("generation", seed=SEED),
        sources=lambda wildcards, input: " ".join(
            f"{input.sources}/shard-{shard}.json"
            for shard in seed_shards(seed_root(wildcards))
        ),
        seed=SEED,
    shell:
        "python -m selfcodealign instruct snippets --sources {params.sources}"
        " --count-like {input.seeds} --seed {params.seed} --output {output} 2> {log}"
