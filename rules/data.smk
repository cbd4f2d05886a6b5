rule demo_numbers:
    output:
        numbers="data/numbers.txt",
        timing="results/timing/demo_numbers.json",
    log:
        "logs/demo_numbers.log",
    benchmark:
        "results/benchmarks/demo_numbers.tsv"
    conda:
        "../envs/poolpipe.yaml"
    threads: 1
    resources:
        mem_mb=1024,
        runtime=30,
    params:
        lines=config["demo"]["numbers"]["lines"],
        blank_lines=config["demo"]["numbers"]["blank_lines"],
        bad_lines=config["demo"]["numbers"]["bad_lines"],
        seed=config["demo"]["seed"],
    script:
        "../scripts/demo_numbers.py"
