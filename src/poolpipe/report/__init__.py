"""The report: one run's timing records, results and benchmarks in one self-contained page, CSV
and summary."""

from poolpipe.report.machine import describe
from poolpipe.report.overview import origin as from_another_run
from poolpipe.report.page import Judgement, build, write
from poolpipe.report.results import result_sections
from poolpipe.report.sections import crawl_section, fit_section, predict_section, train_section

__all__ = [
    "Judgement",
    "build",
    "crawl_section",
    "describe",
    "fit_section",
    "from_another_run",
    "predict_section",
    "result_sections",
    "train_section",
    "write",
]
