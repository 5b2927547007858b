# SelfCodeAlign: a code LLM writes, tests and learns from its own instruction data.
# Run: snakemake --configfile config/demo.yaml --cores 2   (see README.md)


# The paper's run unless a config is given with --configfile (files are not merged).
if not config:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/seeds.smk"
include: "workflow/rules/instruct.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
