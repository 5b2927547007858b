# Stage 4: instruction tuning of the base model on the selected pairs (TRL SFTTrainer).
# Checkpoints live beside the output, not in it: Snakemake deletes a job's declared output
# before it reruns the job, and the rerun must find them to resume.


rule finetune:
    input:
        sft=f"{DATASET}/sft.jsonl",
        model=MODEL_INPUTS,
    output:
        directory(f"{RESULTS}/model/finetuned"),
    log:
        f"{LOGS}/train/finetune.log",
    benchmark:
        f"{BENCH}/train/finetune.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 8 * FT_GPUS if FT_GPUS else 2
    resources:
        gpu=FT_GPUS,
        mem_mb=64000 * max(1, FT_GPUS // 4) if FT_GPUS else 8000,
        runtime=2880 if FT_GPUS else 120,
    params:
        settings=settings("finetune"),
        # The demo's own tiny model (an input), or model.name (a Hub id or a directory).
        base=lambda wildcards, input: (
            input.model[0] if input.model else config["model"]["name"]
        ),
        checkpoints=f"{RESULTS}/model/checkpoints",
        seed=config["seed"],
    shell:
        # --launch: with finetune.gpus > 1, one process per GPU the job sees, under
        # `accelerate launch` (workflow/accelerate/<accelerate_config>.yaml); else plain python.
        "OMP_NUM_THREADS={threads} python -m selfcodealign train finetune --launch"
        " --settings {params.settings:q} --model {params.base:q} --data {input.sft}"
        " --checkpoints {params.checkpoints} --seed {params.seed} --output {output}"
        " > {log} 2>&1"
