TIMING_RECORDS.extend(["results/timing/supervise.json"] if "supervise" in STAGES else [])


rule supervise:
    output:
        ticks="results/supervise/ticks.tsv",
        status="results/supervise/status.tsv",
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
        **named(
            workers=config["supervise"]["workers"],
            programs=config["supervise"]["programs"],
            log_dir="logs/supervise",
            duration_s=config["supervise"]["duration_s"],
            restart=config["supervise"]["restart"],
            max_restarts=config["supervise"]["max_restarts"],
            heartbeat_timeout_s=config["supervise"]["heartbeat_timeout_s"],
            stop_timeout_s=config["supervise"]["stop_timeout_s"],
            stall_timeout_s=config["supervise"]["stall_timeout_s"],
            restart_backoff_s=config["supervise"]["restart_backoff_s"],
            restart_backoff_max_s=config["supervise"]["restart_backoff_max_s"],
            restart_jitter=config["supervise"]["restart_jitter"],
            restart_window_s=config["supervise"]["restart_window_s"],
        ),
    script:
        "../scripts/supervise.py"
