# Stage 6: reports. Each table in its paper's shape (our number, the paper's, the difference),
# each dataset's funnel and each training's loss curve. Also the source of
# `snakemake --report report.html` (the report() outputs below).


localrules:
    table_report,
    matrix_report,
    dataset_report,
    training_report,


rule table_report:
    input:
        table_inputs,
    output:
        **{key: path for key, path in table_files().items() if key != "heatmap"},
    log:
        f"{LOGS}/tables/{{table}}.log",
    wildcard_constraints:
        table=one_of(sorted(set(EXP.tables) - set(matrix_tables()))),
    conda:
        "../../envs/report.yaml"
    container:
        image("report")
    params:
        key=lambda wildcards: determinants("report"),
        spec=lambda wildcards: dumps(table_spec(wildcards.table)),
        out=lambda wildcards, output: os.path.dirname(output.md),
    shell:
        "python -m selfcodealign report table --spec {params.spec:q}"
        " --output-dir {params.out} > {log} 2>&1"


# Table 8's shape (students x generators) also gets a heatmap.
use rule table_report as matrix_report with:
    output:
        **table_files(),
    log:
        f"{LOGS}/tables/{{table}}.log",
    wildcard_constraints:
        table=one_of(matrix_tables()),


rule dataset_report:
    input:
        seed_funnel=lambda wildcards: (
            f"{RESULTS}/seeds/{generated(wildcards)['seedset']}/funnel.json"
        ),
        generation_counts=generation_counts,
        dataset_funnel=f"{DATA}/funnel.json",
    output:
        md=f"{DATA}/report/funnel.md",
        csv=report(
            f"{DATA}/report/funnel.csv",
            caption="../report/funnel_table.rst",
            category="Data funnels",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "table"},
        ),
        png=report(
            f"{DATA}/report/funnel.png",
            caption="../report/funnel.rst",
            category="Data funnels",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "plot"},
        ),
    log:
        f"{LOGS}/data/{{dataset}}/report.log",
    wildcard_constraints:
        dataset=one_of(EXP.selected()),
    conda:
        "../../envs/report.yaml"
    container:
        image("report")
    params:
        key=lambda wildcards: determinants("report"),
        out=lambda wildcards, output: os.path.dirname(output.md),
    shell:
        "python -m selfcodealign report dataset --seed-funnel {input.seed_funnel}"
        " --generation-counts {input.generation_counts}"
        " --dataset-funnel {input.dataset_funnel} --output-dir {params.out} > {log} 2>&1"


rule training_report:
    input:
        MODEL_DIR,
    output:
        report(
            f"{MODEL_DIR}.report/loss.png",
            caption="../report/loss.rst",
            category="Training",
            subcategory="{training}",
            labels={"training": "{training}", "figure": "loss"},
        ),
    log:
        f"{LOGS}/models/{{training}}-report.log",
    conda:
        "../../envs/report.yaml"
    container:
        image("report")
    params:
        key=lambda wildcards: determinants("report"),
        out=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        "python -m selfcodealign report training --loss {input}/loss.csv"
        " --output-dir {params.out} > {log} 2>&1"
