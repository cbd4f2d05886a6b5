rule report:
    input:
        unpack(report_inputs),
    output:
        html=report(
            REPORT_OUTPUTS["html"],
            caption="../report/report.rst",
            category="Timing report",
        ),
        csv=report(
            REPORT_OUTPUTS["csv"],
            caption="../report/timings.rst",
            category="Timing report",
        ),
        summary=report(
            REPORT_OUTPUTS["summary"],
            caption="../report/summary.rst",
            category="Timing report",
        ),
    log:
        "logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    conda:
        "../envs/poolpipe.yaml"
    threads: 1
    resources:
        mem_mb=1024,
        runtime=10,
    params:
        **named(
            baseline=config["report"]["baseline"],
            spread_limit=config["report"]["spread_limit"],
            load_limit=config["report"]["load_limit"],
            compare_factor=config["report"]["compare_factor"],
        ),
        records=timing_records,
    script:
        "../scripts/report.py"
