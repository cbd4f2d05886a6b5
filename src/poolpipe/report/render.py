"""The timing report's record (every number the page, the CSV and the summary show, and how
they are judged), rendered: one self-contained HTML page, and the same numbers as Markdown."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from poolpipe.bench import IpcPoint, OverheadPoint, ScalingPoint
from poolpipe.report.compare import Change
from poolpipe.report.jobs import JobRow, Skipped
from poolpipe.report.machine import Machine
from poolpipe.report.sections import Section
from poolpipe.report.stages import Bar, StageRow


@dataclass(frozen=True, kw_only=True)
class Judgement:
    """How the report judges its numbers: spread, load, and a change against a baseline."""

    spread_limit: float = 0.25
    load_limit: float = 0.25
    compare_factor: float = 1.1


@dataclass(kw_only=True)
class TimingReport:
    """Everything the page, the CSV and the summary show."""

    jobs: list[JobRow]
    stages: list[StageRow]
    bars: list[Bar] = field(default_factory=list)
    scaling: list[ScalingPoint] = field(default_factory=list)
    serial_fraction: float | None = None
    ipc: list[IpcPoint] = field(default_factory=list)
    overhead: list[OverheadPoint] = field(default_factory=list)
    changes: list[Change] | None = None
    baseline: str | None = None
    judgement: Judgement = field(default_factory=Judgement)
    machine: Machine | None = None
    sections: list[Section] = field(default_factory=list)
    run_id: str = ""
    run_when: str = ""
    others: list[JobRow] = field(default_factory=list)
    """Jobs of other runs: left out of the timeline, the tables and the CSV."""
    skipped: list[Skipped] = field(default_factory=list)
    """Records and files the report could not use, with why."""


STYLE = """
body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem}.machine{color:#555}p{max-width:60rem;line-height:1.4}
.table{max-width:100%;margin:1rem 0}
table{border-collapse:collapse;font-size:.85rem;max-width:100%}
th,td{border:1px solid #ccc;padding:.2rem .45rem;text-align:right}
td.n,th{white-space:nowrap}td.t{overflow-wrap:anywhere}th{background:#f3f3f3}th.t{text-align:left}
td.t{text-align:left}
summary{cursor:pointer;color:#225;margin:.5rem 0}
img{max-width:100%;height:auto}figure{margin:1rem 0}figcaption{color:#555;font-size:.9rem}
@media (max-width:700px){
body{margin:1rem auto}table,thead,tbody,tr,th,td{display:block}thead{display:none}
tr{border:1px solid #ccc;margin:.5rem 0}td{border:0;text-align:left;white-space:normal}
td::before{content:attr(data-label) ": ";font-weight:600}
}
"""


def _paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p]


def summary_markdown(report: TimingReport, sections: Sequence[Section]) -> str:
    """summary.md: the page's sections as Markdown, text and tables, without the plots."""
    out = ["# poolpipe timing summary", ""]
    if report.run_id:
        out += [f"Run: {report.run_id}, started {report.run_when}.", ""]
    if report.machine:
        out += [f"Measured on: {report.machine.line()}.", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        for para in _paragraphs(section.text):
            out += [para, ""]
        if section.table:
            out += [*_md_table(*section.table), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def md_cell(text: str) -> str:
    """A Markdown table cell: a pipe escaped, a line break or control character a space."""
    flat = "".join(c if c.isprintable() else " " for c in text)
    return flat.replace("\\", "\\\\").replace("|", "\\|")


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(md_cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(md_cell(c) for c in r) + " |" for r in rows]
    return lines


NUMBER = re.compile(r"[<>~]?\s?-?[\d.\u2009]+(e-?\d+)?( ?[a-zA-Zµ%/]+(/s)?)?x?( \(.*\))?")
"""A cell that is a number with its unit ('1.6 s', '683 MB', '1.6x (1.2 to 2)'): right-aligned."""


def _html_cell(text: str, label: str) -> str:
    """A cell: numbers right-aligned so their digits line up, words left-aligned; its column's
    name as data-label, which narrow screens show before the value."""
    kind = "n" if NUMBER.fullmatch(text) else "t"
    return f'<td class="{kind}" data-label="{html.escape(label)}">{html.escape(text)}</td>'


def _html_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    words = [
        any(c and not NUMBER.fullmatch(c) for c in column) for column in zip(*rows, strict=False)
    ]
    words += [True] * (len(head) - len(words))
    th = "".join(
        f'<th class="{"t" if word else "n"}">{html.escape(h)}</th>'
        for h, word in zip(head, words, strict=True)
    )
    body = "".join(
        "<tr>" + "".join(_html_cell(c, h) for c, h in zip(row, head, strict=False)) + "</tr>"
        for row in rows
    )
    table = f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="table">{table}</div>'


def _html_section(section: Section) -> str:
    parts = [f"<section><h2>{html.escape(section.title)}</h2>"]
    parts += [f"<p>{html.escape(p)}</p>" for p in _paragraphs(section.text)]
    if section.png:
        data = base64.b64encode(section.png).decode()
        alt = html.escape(section.title)
        parts.append(f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">')
        if section.caption:
            parts.append(f"<figcaption>{html.escape(section.caption)}</figcaption>")
        parts.append("</figure>")
    if section.table and section.fold:
        parts.append(f"<details><summary>{html.escape(section.fold)}</summary>")
        parts.append(_html_table(*section.table) + "</details>")
    elif section.table:
        parts.append(_html_table(*section.table))
    parts.append("</section>")
    return "".join(parts)


def render_html(report: TimingReport, sections: Sequence[Section]) -> str:
    """The self-contained page: every plot embedded, no network needed."""
    machine = html.escape(report.machine.line()) if report.machine else "an undescribed machine"
    body = "".join(_html_section(s) for s in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>poolpipe timing report</title><style>{STYLE}</style></head><body>"
        "<h1>poolpipe timing report</h1>"
        f'<p class="machine">Measured on: {machine}.</p>'
        f"{body}</body></html>\n"
    )
