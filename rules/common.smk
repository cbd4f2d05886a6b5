"""Input functions and helpers shared by every rule file."""

SUM_CHUNKS = list(range(config["sum"]["chunks"]))


def all_outputs():
    """Every final result of the default run."""
    return ["results/sum/total.json", "results/crawl/pages.tsv", "results/crawl/summary.json"]


def sum_input(wildcards):
    """The numbers file to sum: the user's, or the demo file the data rules make."""
    return config["sum"]["input"]


def sum_parts(wildcards):
    """Every chunk's partial sum, in chunk order."""
    return expand("results/sum/parts/{chunk}.json", chunk=SUM_CHUNKS)


def pool_mem_mb(wildcards, threads):
    """Memory for a pool job: the parent plus each worker's interpreter and read buffer."""
    return 256 + 128 * threads


CRAWL_CHUNKS = list(range(config["crawl"]["chunks"]))


def crawl_input(wildcards):
    """The URL file to crawl: the user's, or the demo list the data rules make."""
    return config["crawl"]["input"]


def crawl_parts(wildcards):
    """Every crawl chunk's rows, in chunk order."""
    return expand("results/crawl/parts/{chunk}.jsonl", chunk=CRAWL_CHUNKS)


def crawl_timings(wildcards):
    """Every crawl chunk's timing record, in chunk order (for the summary's pages/s)."""
    return expand("results/timing/crawl_chunk/{chunk}.json", chunk=CRAWL_CHUNKS)


def demo_site_spec():
    """The demo site the crawl jobs run while they crawl, or None when it is off."""
    if not config["crawl"]["demo_site"]:
        return None
    site = config["demo"]["crawl"]
    return {
        "pages": site["pages"],
        "page_bytes": site["page_bytes"],
        "latency": site["latency_ms"] / 1000,
    }
