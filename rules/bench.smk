TIMING_RECORDS.extend(
    ["results/timing/bench_cpu.json", "results/timing/bench_ipc.json"] if "bench" in STAGES else []
)
TIMING_RECORDS.extend(["results/timing/bench_overhead.json"] if overhead_wanted() else [])


rule bench_cpu:
    output:
        scaling="results/bench/cpu.tsv",
        timing="results/timing/bench_cpu.json",
    log:
        "logs/bench_cpu.log",
    benchmark:
        "results/benchmarks/bench_cpu.tsv"
    conda:
        "../envs/poolpipe.yaml"
    threads: config["bench"]["cpu"]["threads"]
    resources:
        mem_mb=pool_mem_mb,
        runtime=30,
    params:
        **named(
            most=config["bench"]["cpu"]["threads"],  # a param: a new count runs it again
            iterations=config["bench"]["cpu"]["iterations"],
            repeats=config["bench"]["cpu"]["repeats"],
        ),
    script:
        "../scripts/bench_cpu.py"


rule bench_ipc:
    output:
        ipc="results/bench/ipc.tsv",
        timing="results/timing/bench_ipc.json",
    log:
        "logs/bench_ipc.log",
    benchmark:
        "results/benchmarks/bench_ipc.tsv"
    conda:
        "../envs/poolpipe.yaml"
    threads: 2
    resources:
        mem_mb=ipc_mem_mb,
        runtime=30,
    params:
        sizes=config["bench"]["ipc"]["sizes"],
        budget_mb=config["bench"]["ipc"]["budget_mb"],
    script:
        "../scripts/bench_ipc.py"


rule bench_overhead:
    output:
        overhead="results/bench/overhead.tsv",
        timing="results/timing/bench_overhead.json",
    log:
        "logs/bench_overhead.log",
    benchmark:
        "results/benchmarks/bench_overhead.tsv"
    conda:
        "../envs/poolpipe.yaml"
    threads: config["bench"]["overhead"]["threads"]
    resources:
        mem_mb=pool_mem_mb,
        runtime=10,
    params:
        **named(
            most=config["bench"]["overhead"]["threads"],  # a param: a new count runs it again
            repeats=config["bench"]["overhead"]["repeats"],
            tasks=config["bench"]["overhead"]["tasks"],
        ),
    script:
        "../scripts/bench_overhead.py"
