"""The report: every timing record and benchmark into one self-contained page, CSV and summary."""

from poolpipe.report.page import build, crawl_section, train_section, write
from poolpipe.report.machine import Machine, describe

__all__ = ["Machine", "build", "crawl_section", "describe", "train_section", "write"]
