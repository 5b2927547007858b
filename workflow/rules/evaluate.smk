# Stage 5: greedy pass@1 on HumanEval+ / MBPP+ with EvalPlus, per (model, benchmark, prompt).
# benchmark data (hash-checked) -> codegen (samples, resumable) -> evaluate (EvalPlus scoring).


# Downloads run on the login node: compute nodes often have no internet.
localrules:
    benchmark_data,


rule benchmark_data:
    output:
        f"{EVAL}/datasets/{{benchmark}}.jsonl",
    log:
        f"{LOGS}/evaluate/data-{{benchmark}}.log",
    wildcard_constraints:
        benchmark=BENCHMARK_PATTERN,
    conda:
        "../../envs/evaluate.yaml"
    params:
        pin=lambda wildcards: settings("evaluation", "datasets", wildcards.benchmark),
    shell:
        "python -m selfcodealign benchmark-data --benchmark {wildcards.benchmark}"
        " --pin {params.pin:q} --output {output} > {log} 2>&1"


rule codegen:
    input:
        dataset=rules.benchmark_data.output[0],
        model=lambda wildcards: evaluated_model_inputs(wildcards.model),
    output:
        samples=f"{EVAL}/{{model}}/{{benchmark}}-{{prompt}}.samples.jsonl",
        meta=f"{EVAL}/{{model}}/{{benchmark}}-{{prompt}}.meta.json",
    log:
        f"{LOGS}/evaluate/codegen-{{model}}-{{benchmark}}-{{prompt}}.log",
    benchmark:
        f"{BENCH}/evaluate/codegen-{{model}}-{{benchmark}}-{{prompt}}.tsv"
    wildcard_constraints:
        model="base|finetuned",
        benchmark=BENCHMARK_PATTERN,
        prompt="paper|evalplus",
    conda:
        "../../envs/generate.yaml"
    threads: 8 if EVAL_GPUS else 2
    resources:
        gpu=EVAL_GPUS,
        mem_mb=64000 if EVAL_GPUS else 8000,
        runtime=240,
    params:
        settings=settings("evaluation", "generation"),
        pin=lambda wildcards: settings("evaluation", "datasets", wildcards.benchmark),
        model=lambda wildcards, input: evaluated_model_json(
            wildcards.model, input.model
        ),
    shell:
        "OMP_NUM_THREADS={threads} python -m selfcodealign codegen"
        " --settings {params.settings:q} --benchmark {wildcards.benchmark}"
        " --pin {params.pin:q} --dataset {input.dataset} --model {params.model:q}"
        " --model-kind {wildcards.model} --prompt {wildcards.prompt}"
        " --output {output.samples} --meta {output.meta} 2> {log}"


rule evaluate:
    input:
        samples=rules.codegen.output.samples,
        meta=rules.codegen.output.meta,
        dataset=rules.benchmark_data.output[0],
    output:
        f"{EVAL}/{{model}}/{{benchmark}}-{{prompt}}.json",
    log:
        f"{LOGS}/evaluate/score-{{model}}-{{benchmark}}-{{prompt}}.log",
    benchmark:
        f"{BENCH}/evaluate/score-{{model}}-{{benchmark}}-{{prompt}}.tsv"
    wildcard_constraints:
        model="base|finetuned",
        benchmark=BENCHMARK_PATTERN,
        prompt="paper|evalplus",
    conda:
        "../../envs/evaluate.yaml"
    threads: config["evaluation"]["scoring"]["parallel"]
    resources:
        mem_mb=lambda wildcards, threads: 2000 + 1000 * threads,
        runtime=120,
    params:
        pin=lambda wildcards: dataset_pin_flags(wildcards.benchmark),
        scoring=scoring_flags(),
        # EvalPlus's own files (its results JSON, log, ground-truth cache) for inspection.
        work=lambda wildcards, output: f"{output[0]}.evalplus",
    shell:
        "python -m selfcodealign evaluate --samples {input.samples} --meta {input.meta}"
        " --dataset {wildcards.benchmark} --dataset-path {input.dataset}"
        " {params.pin} {params.scoring}"
        " --parallel {threads} --work-dir {params.work} --output {output} > {log} 2>&1"
