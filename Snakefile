from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/sum.smk"
include: "rules/train.smk"
include: "rules/crawl.smk"
include: "rules/bench.smk"
include: "rules/report.smk"
include: "rules/tasks.smk"
include: "rules/supervise.smk"


onstart:
    start_checks()


onsuccess:
    print(finished())


rule all:
    default_target: True
    input:
        bare_run(all_outputs()),
