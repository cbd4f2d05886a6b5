"""Rule report: results/report/{report.html, timings.csv, summary.md} from the timing records."""

from poolpipe import report
from poolpipe.core import read_json, run_script


def main(smk):
    sections = [
        report.train_section(read_json(smk.input.train_model)),
        report.crawl_section(smk.input.crawl_pages, read_json(smk.input.crawl_summary)),
    ]
    built = report.build(
        smk.input.records,
        scaling_tsv=smk.input.scaling,
        ipc_tsv=smk.input.ipc,
        machine=report.describe(),
        sections=sections,
    )
    report.write(
        built,
        html_path=smk.output.html,
        csv_path=smk.output.csv,
        summary_path=smk.output.summary,
    )


run_script(snakemake, main)  # noqa: F821
