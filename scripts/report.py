"""Rule report: results/report/{report.html, timings.csv, summary.md} from the timing records."""

from poolpipe import report
from poolpipe.core import run_script


def main(smk):
    p, given = smk.params, smk.input
    built = report.build(
        p.records,
        scaling_tsv=given.get("scaling"),
        ipc_tsv=given.get("ipc"),
        overhead_tsv=given.get("overhead"),
        baseline=p.baseline or None,
        judgement=report.Judgement(
            spread_limit=p.spread_limit, load_limit=p.load_limit, compare_factor=p.compare_factor
        ),
        machine=report.describe(),
    )
    built.sections = report.result_sections(
        sum_totals=given.sum_totals,
        train_models=given.train_models,
        predictions=given.predictions,
        crawl_summaries=given.crawl_summaries,
        task_results=given.task_results,
        supervise=given.get("supervise"),
        supervise_note=report.from_another_run(built, "supervise"),
        origin=lambda rule, dataset: report.from_another_run(built, rule, dataset),
    )
    report.write(
        built,
        html_path=smk.output.html,
        csv_path=smk.output.csv,
        summary_path=smk.output.summary,
    )


run_script(snakemake, main)  # noqa: F821
