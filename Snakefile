# SelfCodeAlign: a code LLM writes, tests and learns from its own instruction data.
# Run: snakemake --configfile config/demo.yaml --cores 2   (see README.md)
from glob import glob

# Without --configfile: every paper table in one run, their shared work done once.
if not config:
    for table_config in sorted(glob("config/paper/table*.yaml")):

        configfile: table_config


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
