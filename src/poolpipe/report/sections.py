"""The page's sections, each a titled text with the table and the plot drawn from it."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from poolpipe.report.cells import shown


@dataclass(kw_only=True)
class Section:
    """A titled part of the page: prose, an optional table and an optional plot."""

    title: str
    text: str = ""
    table: tuple[Sequence[str], Sequence[Sequence[str]]] | None = None
    png: bytes | None = None
    caption: str = ""


def _named(title: str, dataset: str | None) -> str:
    """A section's title, with the dataset it shows where there is one."""
    return f"{title} ({dataset})" if dataset else title


def train_section(model: dict, *, dataset: str | None = None) -> Section:
    """Each merge method's largest difference from scikit-learn's fit on all rows."""
    from poolpipe.report import plots

    diffs = model.get("max_abs_diff_from_full_fit")
    title = _named("Train: averaged vs exact merge", dataset)
    if not diffs:
        return Section(
            title=title,
            text="No full fit to compare with: train.compare_full_fit is off.",
        )
    methods = list(diffs)
    rows = [[m, shown(diffs[m]["coef"]), shown(diffs[m]["intercept"])] for m in methods]
    worst = [max(diffs[m]["coef"], diffs[m]["intercept"]) for m in methods]
    return Section(
        title=title,
        text=f"Largest absolute difference of each method's coefficients and intercept from "
        f"scikit-learn's fit on all {model['rows']} rows, over {model['chunks']} chunks.",
        table=(["method", "coef", "intercept"], rows),
        png=plots.bars(
            methods,
            [max(w, 1e-17) for w in worst],
            ylabel="max |difference| from the full fit",
            title="Train error by merge method",
            log=True,
        ),
        caption="Log scale: the exact merge sits at rounding error, averaging does not.",
    )


def crawl_section(
    pages_tsv: str | os.PathLike[str], summary: dict, *, dataset: str | None = None
) -> Section:
    """The distribution of fetch latencies, with the crawl's own percentiles."""
    from poolpipe.report import plots

    with Path(pages_tsv).open(newline="") as fh:
        elapsed = [
            float(r["elapsed_ms"]) for r in csv.DictReader(fh, delimiter="\t") if r["elapsed_ms"]
        ]
    timing = summary.get("timing", {})
    latency = timing.get("latency_ms", {})
    downloaded, wall = summary.get("bytes"), timing.get("wall_s")
    head = ["fetched rows", "p50 ms", "p90 ms", "p99 ms", "max ms", "pages/s"]
    head += ["downloaded MB", "MB/s"]
    row = [
        str(len(elapsed)),
        *(shown(latency.get(k)) for k in ("p50", "p90", "p99", "max")),
        shown(timing.get("pages_per_s")),
        shown(downloaded / 1e6 if downloaded is not None else None),
        shown(downloaded / 1e6 / wall if downloaded is not None and wall else None),
    ]
    return Section(
        title=_named("Crawl: latency distribution", dataset),
        text=f"Time from the first request to the last byte, per fetched URL "
        f"({summary.get('ok', 0)} ok, {summary.get('errors', 0)} error rows).",
        table=(head, [row]),
        png=plots.histogram(elapsed, "elapsed ms per URL", "Crawl latency") if elapsed else None,
        caption="Each URL's time from its first request to its last byte; a long tail is "
        "slow pages, retries and timeouts.",
    )
