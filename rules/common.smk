"""Input functions and helpers shared by every rule file."""

DEMO_NUMBERS = "data/numbers.txt"
DEMO_TRAIN = "data/train.csv"
DEMO_URLS = "data/urls.txt"
DEMO_TASK_MANIFEST = "data/tasks/manifest.jsonl"
DEMO_TASK_ROOT = "data/tasks/root"
SUM_CHUNKS = list(range(config["sum"]["chunks"]))
TRAIN_CHUNKS = list(range(config["train"]["chunks"]))
CRAWL_CHUNKS = list(range(config["crawl"]["chunks"]))


def all_outputs():
    """Every final result of the default run."""
    return [
        "results/sum/total.json",
        "results/train/model.json",
        "results/tasks/results.tsv",
        "results/supervise/ticks.tsv",
        "results/crawl/pages.tsv",
        "results/crawl/summary.json",
        "results/report/report.html",
    ]


def sum_input(wildcards):
    """The numbers file to sum: the user's, or the demo file the data rules make."""
    return config["sum"]["input"]


def sum_parts(wildcards):
    """Every chunk's partial sum, in chunk order."""
    return expand("results/sum/parts/{chunk}.json", chunk=SUM_CHUNKS)


TIMING_RECORDS = []
"""The timing record of every job the report covers: each stage's rule file adds its own."""


def timing_records(wildcards):
    """The timing record of every job the report covers, stage by stage."""
    return TIMING_RECORDS


def benchmark_files(wildcards):
    """Snakemake's benchmark file of every job the report covers, beside its timing record."""
    return [
        path.replace("results/timing/", "results/benchmarks/").replace(".json", ".tsv")
        for path in timing_records(wildcards)
    ]


def pool_mem_mb(wildcards, threads, attempt):
    """Memory for a pool job: parent, each worker's interpreter and buffer, times the attempt."""
    return (256 + 128 * threads) * attempt


def ipc_mem_mb(wildcards):
    """Memory for bench_ipc: a few copies of its largest message on top of two interpreters."""
    return 512 + 4 * max(config["bench"]["ipc"]["sizes"]) // (1 << 20)


def train_input(wildcards):
    """The training CSV: the user's, or the demo file the train rules make."""
    return config["train"]["input"]


def train_parts(wildcards):
    """Every chunk's training summary, in chunk order."""
    return expand("results/train/parts/{chunk}.json", chunk=TRAIN_CHUNKS)


def train_pool_mem_mb(wildcards, threads, attempt):
    """Memory for a train_chunk job: parent, each worker's block and rows, times the attempt."""
    return (256 + 192 * threads) * attempt


def merge_train_mem_mb(wildcards):
    """Memory for merge_train: the full fit's limit when it compares with one."""
    full = config["train"]["full_fit_max_mb"] if config["train"]["compare_full_fit"] else 0
    return 512 + full


def uses_demo_tasks():
    """Whether the tasks stage runs on the demo manifest or the demo root."""
    tasks = config["tasks"]
    return tasks["input"] == DEMO_TASK_MANIFEST or tasks["root"] == DEMO_TASK_ROOT


def tasks_manifest(wildcards):
    """The task manifest: the user's, or the demo one the demo_tasks rule makes."""
    return config["tasks"]["input"]


def tasks_root(wildcards):
    """The only folder the tasks may touch: the user's, or the demo folder."""
    return config["tasks"]["root"]


def supervise_mem_mb(wildcards):
    """Memory for the supervisor: its own interpreter and one small process per loop."""
    return 256 + 64 * len(config["supervise"]["workers"])


def supervise_runtime(wildcards):
    """Minutes for the supervise job: its duration, the loops' stop timeouts, and one to spare."""
    cfg = config["supervise"]
    seconds = cfg["duration_s"] + cfg["stop_timeout_s"] * 3 * len(cfg["workers"])
    return int(seconds // 60) + 2


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
