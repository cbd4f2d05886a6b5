"""Rule predict: every row of a predict dataset through the model.json of the train dataset it
names, into results/predict/<dataset>/predictions.csv and summary.json."""

from poolpipe.core import Stopwatch, job_processes, run_script, write_job_timing, write_json
from poolpipe.train import predict_file, predict_workers


def main(smk):
    p = smk.params
    processes = job_processes(smk)
    with Stopwatch() as watch:
        summary = predict_file(
            smk.input.model,
            smk.input.data,
            smk.output.predictions,
            processes=processes,
            delimiter=p.delimiter,
            method=p.method,
        )
        write_json(smk.output.summary, summary)
    rows = summary["rows"] + summary["bad_rows"]["count"]
    used = predict_workers(smk.input.data, processes)
    write_job_timing(smk, "predict", watch, items=rows, size=summary["bytes"], processes=used)


run_script(snakemake, main)  # noqa: F821
