REPORT_OUTPUTS = {
    "html": "results/report/report.html",
    "csv": "results/report/timings.csv",
    "summary": "results/report/summary.md",
}


def check_report_baseline():
    """report.baseline is not one of the report's own outputs (Snakemake removes those before
    the report runs), or one sentence before any job."""
    try:
        refuse_overlap(
            inputs={"report.baseline": config["report"]["baseline"] or None},
            outputs={f"output {name}": path for name, path in REPORT_OUTPUTS.items()},
        )
    except PoolpipeError as exc:
        raise WorkflowError(str(exc)) from None


check_report_baseline()


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
        records=timing_records,
        baseline=config["report"]["baseline"],
        spread_limit=config["report"]["spread_limit"],
        load_limit=config["report"]["load_limit"],
        compare_factor=config["report"]["compare_factor"],
    script:
        "../scripts/report.py"
