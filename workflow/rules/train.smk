# Stage 4: instruction tuning of a student on a dataset (TRL SFTTrainer), per training.
# Checkpoints live beside the output, not in it: Snakemake deletes a job's declared output
# before it reruns the job, and the rerun must find them to resume (only from checkpoints of
# the same data and recipe: the command checks a fingerprint). A dataset with fewer usable pairs
# than recipe.min_pairs is no failure: the directory holds skipped.json alone, and codegen,
# evaluate and the reports say the model was not trained (workflow/selfcodealign/train/skip.py).


rule finetune:
    input:
        sft=lambda wildcards: f"{RESULTS}/data/{training(wildcards)['dataset']}/sft.jsonl",
        model=lambda wildcards: built_model_input(student(wildcards)),
    output:
        directory(MODEL_DIR),
    log:
        f"{LOGS}/models/{{training}}.log",
    benchmark:
        f"{BENCH}/models/{{training}}.tsv"
    conda:
        "../../envs/train.yaml"
    container:
        image("train")
    threads: lambda wildcards: gpu_threads(training_gpus(wildcards), cpu_threads=2)
    resources:
        gpu=training_gpus,
        mem_mb=more_memory(
            lambda wildcards, threads, input: (
                64000 * max(1, training_gpus(wildcards) // 4)
                if training_gpus(wildcards)
                else 8000
            )
        ),
        # Under a day: a longer training resumes from its checkpoint in the next attempt.
        runtime=lambda wildcards: 1440 if training_gpus(wildcards) else 120,
    params:
        key=lambda wildcards: determinants(
            "training",
            recipe=without(EXP.recipe(wildcards.training), RUNTIME_KEYS["recipe"]),
            model=EXP.model_identity(student(wildcards)),
            seed=SEED,
        ),
        # Runtime settings (batch per device, checkpoint cadence, GPUs) reach the command only.
        settings=lambda wildcards, input: dumps(
            {**EXP.recipe(wildcards.training), "gpus": training_gpus(wildcards)}
        ),
        base=lambda wildcards, input: EXP.model_path(student(wildcards)),
        checkpoints=lambda wildcards, output: f"{RESULTS}/checkpoints/{wildcards.training}",
        seed=SEED,
    shell:
        # --launch: with more than one GPU, one process per GPU the job sees, under
        # `accelerate launch` (selfcodealign/accelerate/<accelerate_config>.yaml); else plain python.
        "OMP_NUM_THREADS={threads} python -m selfcodealign train finetune --launch"
        " --settings {params.settings:q} --model {params.base:q}"
        " --data {input.sft}"
        " --checkpoints {params.checkpoints} --seed {params.seed} --output {output}"
        " > {log} 2>&1"
