from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/sum.smk"
include: "rules/crawl.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
