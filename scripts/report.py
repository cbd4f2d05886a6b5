"""Rule report: results/report/{report.html, timings.csv, summary.md} from the timing records."""

from pathlib import Path

from poolpipe import report
from poolpipe.core import read_json, run_script


def main(smk):
    sections = []
    for path in smk.input.train_models:
        model, name = read_json(path), Path(path).parent.name
        sections += [report.fit_section(model, dataset=name)]
        sections += [report.train_section(model, dataset=name)]
    sections += [
        report.predict_section(read_json(path), dataset=Path(path).parent.name)
        for path in smk.input.predictions
    ]
    sections += [
        report.crawl_section(
            Path(path).with_name("pages.tsv"), read_json(path), dataset=Path(path).parent.name
        )
        for path in smk.input.crawl_summaries
    ]
    p = smk.params
    built = report.build(
        smk.input.records,
        scaling_tsv=smk.input.get("scaling"),
        ipc_tsv=smk.input.get("ipc"),
        overhead_tsv=smk.input.get("overhead"),
        baseline=p.baseline or None,
        judgement=report.Judgement(
            spread_limit=p.spread_limit, load_limit=p.load_limit, compare_factor=p.compare_factor
        ),
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
