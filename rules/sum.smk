TIMING_RECORDS.extend(
    (["results/timing/demo_numbers.json"] if config["sum"]["input"] == DEMO_NUMBERS else [])
    + ["results/timing/split_numbers.json", "results/timing/merge_sum.json"]
    + expand("results/timing/sum_chunk/{chunk}.json", chunk=SUM_CHUNKS)
)


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


rule split_numbers:
    input:
        sum_input,
    output:
        manifest="results/sum/chunks.tsv",
        timing="results/timing/split_numbers.json",
    log:
        "logs/split_numbers.log",
    benchmark:
        "results/benchmarks/split_numbers.tsv"
    conda:
        "../envs/poolpipe.yaml"
    threads: 1
    resources:
        mem_mb=256,
        runtime=10,
    params:
        chunks=config["sum"]["chunks"],
    script:
        "../scripts/split_numbers.py"


rule sum_chunk:
    input:
        manifest="results/sum/chunks.tsv",
    output:
        part="results/sum/parts/{chunk}.json",
        timing="results/timing/sum_chunk/{chunk}.json",
    log:
        "logs/sum_chunk/{chunk}.log",
    benchmark:
        "results/benchmarks/sum_chunk/{chunk}.tsv"
    wildcard_constraints:
        chunk=r"\d+",
    group:
        "sum_chunks"
    conda:
        "../envs/poolpipe.yaml"
    threads: config["sum"]["threads"]
    resources:
        mem_mb=pool_mem_mb,
        runtime=60,
    params:
        strict=config["sum"]["strict"],
        compare_serial=config["timing"]["compare_serial"],
    script:
        "../scripts/sum_chunk.py"


rule merge_sum:
    input:
        parts=sum_parts,
    output:
        total="results/sum/total.json",
        timing="results/timing/merge_sum.json",
    log:
        "logs/merge_sum.log",
    benchmark:
        "results/benchmarks/merge_sum.tsv"
    conda:
        "../envs/poolpipe.yaml"
    threads: 1
    resources:
        mem_mb=256,
        runtime=10,
    params:
        input=config["sum"]["input"],
        strict=config["sum"]["strict"],
    script:
        "../scripts/merge_sum.py"
