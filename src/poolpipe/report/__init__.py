"""The report: every timing record and benchmark into one self-contained page, CSV and summary."""

from poolpipe.report.machine import describe
from poolpipe.report.page import Judgement, build, write
from poolpipe.report.sections import crawl_section, fit_section, predict_section, train_section

__all__ = [
    "Judgement",
    "build",
    "crawl_section",
    "describe",
    "fit_section",
    "predict_section",
    "train_section",
    "write",
]
