TIMING_RECORDS.extend(["results/timing/supervise.json"] if "supervise" in STAGES else [])


rule supervise:
    output:
        ticks="results/supervise/ticks.tsv",
        timing="results/timing/supervise.json",
    log:
        "logs/supervise.log",
    benchmark:
        "results/benchmarks/supervise.tsv"
    conda:
        "../envs/poolpipe.yaml"
    threads: 1
    resources:
        mem_mb=supervise_mem_mb,
        runtime=supervise_runtime,
    params:
        workers=config["supervise"]["workers"],
        duration_s=config["supervise"]["duration_s"],
        restart=config["supervise"]["restart"],
        max_restarts=config["supervise"]["max_restarts"],
        heartbeat_timeout_s=config["supervise"]["heartbeat_timeout_s"],
        stop_timeout_s=config["supervise"]["stop_timeout_s"],
    script:
        "../scripts/supervise.py"
