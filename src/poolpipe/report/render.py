"""The report rendered: one self-contained HTML page, and the same numbers as Markdown."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from poolpipe.report.benches import ipc_advice, ipc_table, scaling_table
from poolpipe.report.cells import MISSING, shown
from poolpipe.report.jobs import jobs_table, stages_table

if TYPE_CHECKING:
    from poolpipe.report.page import TimingReport
    from poolpipe.report.sections import Section

STYLE = """
body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem}.machine{color:#555}
table{border-collapse:collapse;margin:1rem 0;font-size:.85rem}
th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}img{max-width:100%}figcaption{color:#555}
"""


def summary_markdown(report: TimingReport) -> str:
    """summary.md: the same numbers as the page, as Markdown tables."""
    out = ["# poolpipe timing summary", ""]
    if report.machine:
        out += [f"Measured on: {report.machine.line()}.", ""]
    out += [*_md_table(*stages_table(report.stages)), ""]
    if report.scaling:
        fraction = shown(report.serial_fraction)
        out += ["## CPU scaling (bench_cpu)", "", f"Amdahl serial fraction: {fraction}", ""]
        out += [*_md_table(*scaling_table(report.scaling)), ""]
    if report.ipc:
        out += ["## IPC costs (bench_ipc)", "", ipc_advice(report.ipc), ""]
        out += [*_md_table(*ipc_table(report.ipc)), ""]
    for section in report.sections:
        out += [f"## {section.title}", ""]
        if section.text:
            out += [section.text, ""]
        if section.table:
            out += [*_md_table(*section.table), ""]
    out += ["## Every job", "", *_md_table(*jobs_table(report.jobs))]
    return "\n".join(out) + "\n"


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _html_table(head: Sequence[str], rows: Sequence[Sequence[str]], css: str = "") -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f'<table class="{css}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _html_section(section: Section) -> str:
    parts = [f"<section><h2>{html.escape(section.title)}</h2>"]
    if section.text:
        parts.append(f"<p>{html.escape(section.text)}</p>")
    if section.png:
        data = base64.b64encode(section.png).decode()
        alt = html.escape(section.caption or section.title)
        parts.append(f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">')
        parts.append(f"<figcaption>{alt}</figcaption></figure>")
    if section.table:
        parts.append(_html_table(*section.table))
    parts.append("</section>")
    return "".join(parts)


def render_html(report: TimingReport, sections: Sequence[Section]) -> str:
    """The self-contained page: every plot embedded, no network needed."""
    machine = html.escape(report.machine.line()) if report.machine else MISSING
    body = "".join(_html_section(s) for s in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>poolpipe timing report</title><style>{STYLE}</style></head><body>"
        "<h1>poolpipe timing report</h1>"
        f'<p class="machine">Measured on: {machine}.</p>'
        f"{body}</body></html>\n"
    )
