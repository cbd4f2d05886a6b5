TIMING_RECORDS.extend(
    stage_records("crawl", ["split_urls", "merge_crawl"], "crawl_chunk", "demo_urls", DEMO_URLS)
)


rule demo_urls:
    output:
        urls="data/urls.txt",
        timing="results/timing/demo_urls.json",
    log:
        "logs/demo_urls.log",
    benchmark:
        "results/benchmarks/demo_urls.tsv"
    conda:
        "../envs/poolpipe.yaml"
    threads: 1
    resources:
        mem_mb=256,
        runtime=10,
    params:
        **named(
            pages=config["demo"]["crawl"]["pages"],
            duplicates=config["demo"]["crawl"]["duplicates"],
            seed=config["demo"]["seed"],
        ),
    script:
        "../scripts/demo_urls.py"


rule split_urls:
    input:
        dataset_input,
    output:
        manifest="results/crawl/{dataset}/chunks.tsv",
        duplicates="results/crawl/{dataset}/duplicates.tsv",
        index="results/crawl/{dataset}/index.json",
        timing="results/timing/split_urls/{dataset}.json",
    log:
        "logs/split_urls/{dataset}.log",
    benchmark:
        "results/benchmarks/split_urls/{dataset}.tsv"
    wildcard_constraints:
        dataset=dataset_pattern("crawl"),
    conda:
        "../envs/poolpipe.yaml"
    threads: 1
    resources:
        mem_mb=1024,
        runtime=30,
    params:
        chunks=split_chunks,
        identity=input_identity,
    script:
        "../scripts/split_urls.py"


rule crawl_chunk:
    input:
        manifest=chunk_manifest("crawl"),
        duplicates="results/crawl/{dataset}/duplicates.tsv",
        previous=crawl_previous,
    output:
        **crawl_warc_output("results/crawl/{dataset}/parts/{chunk}.warc.gz"),
        part="results/crawl/{dataset}/parts/{chunk}.jsonl",
        timing="results/timing/crawl_chunk/{dataset}/{chunk}.json",
    log:
        "logs/crawl_chunk/{dataset}/{chunk}.log",
    benchmark:
        "results/benchmarks/crawl_chunk/{dataset}/{chunk}.tsv"
    wildcard_constraints:
        dataset=dataset_pattern("crawl"),
        chunk=r"\d+",
    group:
        chunk_group("crawl")
    conda:
        "../envs/poolpipe.yaml"
    threads: config["crawl"]["threads"]
    resources:
        mem_mb=pool_mem_mb,
        runtime=240,
    params:
        **named(
            crawl=crawl_settings(),
            site=demo_site_spec,
            compare_serial=compare_serial,
            serial_note=serial_note,
        ),
    script:
        "../scripts/crawl_chunk.py"


rule merge_crawl:
    input:
        parts=crawl_parts,
        warcs=crawl_warcs,
        timings=crawl_timings,
        index="results/crawl/{dataset}/index.json",
        manifest="results/crawl/{dataset}/chunks.tsv",
    output:
        **crawl_warc_output("results/crawl/{dataset}/pages.warc.gz"),
        pages="results/crawl/{dataset}/pages.tsv",
        summary="results/crawl/{dataset}/summary.json",
        timing="results/timing/merge_crawl/{dataset}.json",
    log:
        "logs/merge_crawl/{dataset}.log",
    benchmark:
        "results/benchmarks/merge_crawl/{dataset}.tsv"
    wildcard_constraints:
        dataset=dataset_pattern("crawl"),
    conda:
        "../envs/poolpipe.yaml"
    threads: 1
    resources:
        mem_mb=512,
        runtime=30,
    params:
        **named(
            crawl=crawl_settings(),
            demo_site=uses_demo_site,
        ),
    script:
        "../scripts/merge_crawl.py"
