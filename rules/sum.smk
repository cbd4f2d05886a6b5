TIMING_RECORDS.extend(
    stage_records("sum", ["split_numbers", "merge_sum"], "sum_chunk", "demo_numbers", DEMO_NUMBERS)
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
        **named(
            lines=config["demo"]["numbers"]["lines"],
            blank_lines=config["demo"]["numbers"]["blank_lines"],
            bad_lines=config["demo"]["numbers"]["bad_lines"],
            seed=config["demo"]["seed"],
        ),
    script:
        "../scripts/demo_numbers.py"


rule split_numbers:
    input:
        dataset_input,
    output:
        manifest="results/sum/{dataset}/chunks.tsv",
        timing="results/timing/split_numbers/{dataset}.json",
    log:
        "logs/split_numbers/{dataset}.log",
    benchmark:
        "results/benchmarks/split_numbers/{dataset}.tsv"
    wildcard_constraints:
        dataset=dataset_pattern("sum"),
    conda:
        "../envs/poolpipe.yaml"
    threads: 1
    resources:
        mem_mb=256,
        runtime=10,
    params:
        chunks=split_chunks,
        identity=input_identity,
    script:
        "../scripts/split_numbers.py"


rule sum_chunk:
    input:
        manifest=chunk_manifest("sum"),
    output:
        part="results/sum/{dataset}/parts/{chunk}.json",
        timing="results/timing/sum_chunk/{dataset}/{chunk}.json",
    log:
        "logs/sum_chunk/{dataset}/{chunk}.log",
    benchmark:
        "results/benchmarks/sum_chunk/{dataset}/{chunk}.tsv"
    wildcard_constraints:
        dataset=dataset_pattern("sum"),
        chunk=r"\d+",
    group:
        chunk_group("sum")
    conda:
        "../envs/poolpipe.yaml"
    threads: config["sum"]["threads"]
    resources:
        mem_mb=pool_mem_mb,
        runtime=60,
    params:
        **named(
            strict=config["sum"]["strict"],
            compare_serial=compare_serial,
            serial_note=serial_note,
        ),
    script:
        "../scripts/sum_chunk.py"


rule merge_sum:
    input:
        parts=sum_parts,
        manifest="results/sum/{dataset}/chunks.tsv",
    output:
        total="results/sum/{dataset}/total.json",
        timing="results/timing/merge_sum/{dataset}.json",
    log:
        "logs/merge_sum/{dataset}.log",
    benchmark:
        "results/benchmarks/merge_sum/{dataset}.tsv"
    wildcard_constraints:
        dataset=dataset_pattern("sum"),
    conda:
        "../envs/poolpipe.yaml"
    threads: 1
    resources:
        mem_mb=256,
        runtime=10,
    params:
        strict=config["sum"]["strict"],
    script:
        "../scripts/merge_sum.py"
