# Stage 5: greedy pass@1 on HumanEval+ / MBPP+ with EvalPlus, per (model, benchmark, prompt),
# where {model} is a base model or a training. A base model is evaluated once, whatever the
# number of tables that show it.
# benchmark data (hash-checked) -> codegen (samples, resumable) -> evaluate (EvalPlus scoring).


# Downloads run on the login node: compute nodes often have no internet. They run on the host,
# not in an image (the images have no network).
localrules:
    benchmark_data,


rule benchmark_data:
    output:
        f"{RESULTS}/benchmark-data/{{benchmark}}.jsonl",
    log:
        f"{LOGS}/evaluate/data-{{benchmark}}.log",
    conda:
        "../../envs/sandbox.yaml"
    params:
        pin=lambda wildcards: dumps(EVALUATION["datasets"][wildcards.benchmark]),
    shell:
        "python -m selfcodealign benchmark-data --benchmark {wildcards.benchmark}"
        " --pin {params.pin:q} --output {output} > {log} 2>&1"


rule codegen:
    input:
        dataset=rules.benchmark_data.output[0],
        model=evaluated_model_input,
    output:
        samples=f"{EVAL}.samples.jsonl",
        meta=f"{EVAL}.meta.json",
    log:
        f"{LOGS}/eval/{{model}}/codegen-{{benchmark}}-{{prompt}}.log",
    benchmark:
        f"{BENCH}/eval/{{model}}/codegen-{{benchmark}}-{{prompt}}.tsv"
    conda:
        "../../envs/generate.yaml"
    container:
        image("generate")
    # On CPU, one torch thread a job: on 2 cores two such jobs side by side outran one job on
    # two threads, and never fight over cores.
    threads: lambda wildcards: gpu_threads(codegen_gpus(wildcards))
    resources:
        gpu=codegen_gpus,
        mem_mb=more_memory(
            lambda wildcards, threads, input: (
                64000 if codegen_gpus(wildcards) else 8000
            )
        ),
        # Resumable: an attempt continues from the samples written so far.
        runtime=240,
    params:
        key=codegen_determinants,
        settings=lambda wildcards, input: dumps(codegen_settings(wildcards)),
        pin=lambda wildcards: dumps(EVALUATION["datasets"][wildcards.benchmark]),
        model=codegen_model,
        kind=lambda wildcards: (
            "finetuned" if wildcards.model in EXP.trainings else "base"
        ),
    shell:
        "OMP_NUM_THREADS={threads} python -m selfcodealign codegen"
        " --settings {params.settings:q} --benchmark {wildcards.benchmark}"
        " --pin {params.pin:q} --dataset {input.dataset} --model {params.model:q}"
        " --model-kind {params.kind} --prompt {wildcards.prompt}"
        " --output {output.samples} --meta {output.meta} 2> {log}"


rule evaluate:
    input:
        samples=rules.codegen.output.samples,
        meta=rules.codegen.output.meta,
        dataset=rules.benchmark_data.output[0],
    output:
        f"{EVAL}.json",
    log:
        f"{LOGS}/eval/{{model}}/score-{{benchmark}}-{{prompt}}.log",
    benchmark:
        f"{BENCH}/eval/{{model}}/score-{{benchmark}}-{{prompt}}.tsv"
    conda:
        "../../envs/sandbox.yaml"
    container:
        image("sandbox")
    threads: EVALUATION["scoring"]["parallel"]
    resources:
        mem_mb=more_memory(lambda wildcards, threads, input: 2000 + 1000 * threads),
        runtime=more_time(120),
    params:
        key=lambda wildcards: determinants(
            "evaluation",
            scoring=without(EVALUATION["scoring"], RUNTIME_KEYS["scoring"]),
            pin=EVALUATION["datasets"][wildcards.benchmark],
        ),
        pin=dataset_pin_flags,
        scoring=scoring_flags,
        # EvalPlus's own files (its results JSON, log, ground-truth cache) for inspection.
        work=lambda wildcards, output: f"{output[0]}.evalplus",
    shell:
        "python -m selfcodealign evaluate --samples {input.samples} --meta {input.meta}"
        " --dataset {wildcards.benchmark} --dataset-path {input.dataset}"
        " {params.pin} {params.scoring}"
        " --parallel {threads} --work-dir {params.work} --output {output} > {log} 2>&1"
