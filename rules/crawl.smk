TIMING_RECORDS.extend(
    (["results/timing/demo_urls.json"] if config["crawl"]["input"] == DEMO_URLS else [])
    + ["results/timing/split_urls.json", "results/timing/merge_crawl.json"]
    + crawl_timings(None)
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
        pages=config["demo"]["crawl"]["pages"],
        duplicates=config["demo"]["crawl"]["duplicates"],
        seed=config["demo"]["seed"],
    script:
        "../scripts/demo_urls.py"


rule split_urls:
    input:
        crawl_input,
    output:
        manifest="results/crawl/chunks.tsv",
        duplicates="results/crawl/duplicates.tsv",
        index="results/crawl/index.json",
        timing="results/timing/split_urls.json",
    log:
        "logs/split_urls.log",
    benchmark:
        "results/benchmarks/split_urls.tsv"
    conda:
        "../envs/poolpipe.yaml"
    threads: 1
    resources:
        mem_mb=1024,
        runtime=30,
    params:
        chunks=config["crawl"]["chunks"],
    script:
        "../scripts/split_urls.py"


rule crawl_chunk:
    input:
        manifest="results/crawl/chunks.tsv",
        duplicates="results/crawl/duplicates.tsv",
    output:
        part="results/crawl/parts/{chunk}.jsonl",
        timing="results/timing/crawl_chunk/{chunk}.json",
    log:
        "logs/crawl_chunk/{chunk}.log",
    benchmark:
        "results/benchmarks/crawl_chunk/{chunk}.tsv"
    wildcard_constraints:
        chunk=r"\d+",
    group:
        "crawl_chunks"
    conda:
        "../envs/poolpipe.yaml"
    threads: config["crawl"]["threads"]
    resources:
        mem_mb=pool_mem_mb,
        runtime=240,
    params:
        crawl=config["crawl"],
        site=demo_site_spec(),
        compare_serial=config["timing"]["compare_serial"],
    script:
        "../scripts/crawl_chunk.py"


rule merge_crawl:
    input:
        parts=crawl_parts,
        timings=crawl_timings,
        index="results/crawl/index.json",
    output:
        pages="results/crawl/pages.tsv",
        summary="results/crawl/summary.json",
        timing="results/timing/merge_crawl.json",
    log:
        "logs/merge_crawl.log",
    benchmark:
        "results/benchmarks/merge_crawl.tsv"
    conda:
        "../envs/poolpipe.yaml"
    threads: 1
    resources:
        mem_mb=512,
        runtime=30,
    params:
        input=config["crawl"]["input"],
        crawl=config["crawl"],
    script:
        "../scripts/merge_crawl.py"
