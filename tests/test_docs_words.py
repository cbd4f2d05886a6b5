"""The docs' own limit (CONTRIBUTING.md, "Words"): README.md, docs/*.md and config/README.md
hold at most the number of words it names, counted as `wc -w` counts them."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_docs_stay_within_the_word_limit_contributing_names():
    rule = re.search(
        r"config/README\.md` at most ([\d,]+)\.", (ROOT / "CONTRIBUTING.md").read_text()
    )
    assert rule, "CONTRIBUTING.md no longer names the docs' word limit"
    limit = int(rule[1].replace(",", ""))
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "config/README.md"]
    words = sum(len(page.read_bytes().split()) for page in pages)
    assert len(pages) > 3 and words <= limit, f"the docs hold {words} words, over {limit}"
