# Stage 6: the report: pass@1 next to the paper's numbers, the data funnel, the loss curve.
# Also the source of `snakemake --report report.html` (the report() outputs below).


localrules:
    report,


rule report:
    input:
        evals=evaluation_results(),
        seed_funnel=f"{SEEDS}/funnel.json",
        generation_counts=generation_counts(),
        dataset_funnel=f"{DATASET}/funnel.json",
        model=finetuned_for_report(),
    output:
        pass_at_1_md=f"{REPORT}/pass_at_1.md",
        pass_at_1_csv=report(
            f"{REPORT}/pass_at_1.csv",
            caption="../report/pass_at_1_table.rst",
            category="Evaluation",
            labels={"figure": "pass@1 table"},
        ),
        pass_at_1_png=report(
            f"{REPORT}/pass_at_1.png",
            caption="../report/pass_at_1.rst",
            category="Evaluation",
            labels={"figure": "pass@1 bars"},
        ),
        funnel_md=f"{REPORT}/funnel.md",
        funnel_csv=report(
            f"{REPORT}/funnel.csv",
            caption="../report/funnel_table.rst",
            category="Data funnel",
            labels={"figure": "funnel table"},
        ),
        funnel_png=report(
            f"{REPORT}/funnel.png",
            caption="../report/funnel.rst",
            category="Data funnel",
            labels={"figure": "funnel plot"},
        ),
        loss_png=report(
            f"{REPORT}/loss.png",
            caption="../report/loss.rst",
            category="Training",
            labels={"figure": "loss curve"},
        ),
        summary=f"{REPORT}/summary.json",
    log:
        f"{LOGS}/report/report.log",
    conda:
        "../../envs/report.yaml"
    params:
        base_model=config["model"]["name"],
        out=lambda wildcards, output: os.path.dirname(output.summary),
        loss=lambda wildcards, input: (
            f"--loss {input.model}/loss.csv" if input.model else ""
        ),
    shell:
        "python -m selfcodealign report --evals {input.evals}"
        " --seed-funnel {input.seed_funnel} --generation-counts {input.generation_counts}"
        " --dataset-funnel {input.dataset_funnel}"
        " {params.loss} --base-model {params.base_model:q}"
        " --output-dir {params.out} > {log} 2>&1"
