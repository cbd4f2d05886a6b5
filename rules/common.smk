"""Input functions and helpers shared by every rule file."""

import re
from pathlib import Path

from snakemake.exceptions import WorkflowError

from poolpipe.core import check_input_file, identify, one_blas_thread_per_process, read_datasets
from poolpipe.errors import PoolpipeError

one_blas_thread_per_process()  # every job inherits it: a pool's processes are the parallelism

DEMO_NUMBERS = "data/numbers.txt"
DEMO_TRAIN = "data/train.csv"
DEMO_HOLDOUT = "data/holdout.csv"
DEMO_URLS = "data/urls.txt"
DEMO_TASK_MANIFEST = "data/tasks/manifest.jsonl"
DEMO_TASK_ROOT = "data/tasks/root"
DEMO_INPUTS = {DEMO_NUMBERS, DEMO_TRAIN, DEMO_HOLDOUT, DEMO_URLS, DEMO_TASK_MANIFEST}
DEMO_INPUTS.add(DEMO_TASK_ROOT)
"""Inputs the demo rules make: they exist only once those rules have run."""
RETIRED = [("sum", "input"), ("train", "input"), ("crawl", "input"), ("tasks", "input")]
RETIRED.append(("tasks", "root"))
SHEET_SCHEMA = workflow.source_path("../config/datasets.schema.yaml")  # a module too


def load_datasets():
    """The dataset sheet's rows by name; a retired key or a mistake in the sheet is one sentence."""
    for stage, key in RETIRED:
        if key in config.get(stage, {}):
            raise WorkflowError(
                f"{stage}.{key} is no longer read: the inputs are rows of the dataset sheet "
                f"({config['datasets']}); list yours in a sheet of your own and run "
                "snakemake --config datasets=my.tsv (see config/README.md)"
            )
    try:
        rows = read_datasets(config["datasets"], schema=SHEET_SCHEMA)
    except PoolpipeError as exc:
        raise WorkflowError(str(exc)) from None
    return {d.name: d for d in rows}


DATASETS = load_datasets()
STAGES = config["stages"]


def check_inputs():
    """Every input of the chosen stages is a readable file (roots: folders), or one sentence."""
    for d in DATASETS.values():
        if d.stage not in STAGES:
            continue
        try:
            if d.path not in DEMO_INPUTS:
                check_input_file(d.path)
        except PoolpipeError as exc:
            raise WorkflowError(f"dataset {d.name!r} ({d.stage}): {exc}") from None
        if d.root and d.root not in DEMO_INPUTS and not Path(d.root).is_dir():
            raise WorkflowError(
                f"dataset {d.name!r} (tasks): root folder {d.root!r} does not exist or is not a folder"
            )


check_inputs()


def datasets_of(stage):
    """The names of a stage's datasets, in sheet order."""
    return [d.name for d in DATASETS.values() if d.stage == stage]


def dataset_pattern(stage):
    """The {dataset} wildcard of a stage's rules: exactly its datasets' names."""
    names = datasets_of(stage)
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


def dataset_input(wildcards):
    """The dataset's input file, from the sheet."""
    return DATASETS[wildcards.dataset].path


def input_identity(wildcards):
    """A user's input as it is now (size, mtime, fingerprint): a changed file re-splits even when
    its modification time went back; a demo input is a rule's output, so Snakemake tracks it."""
    d = DATASETS[wildcards.dataset]
    if d.path in DEMO_INPUTS:
        return "made by a demo rule"
    try:
        found = identify(d.path)
    except PoolpipeError as exc:
        raise WorkflowError(f"dataset {d.name!r} ({d.stage}): {exc}") from None
    return f"{found.size} {found.mtime_ns} {found.fingerprint}"


def dataset_chunks(name):
    """The dataset's chunk count: its sheet cell, else its stage's `chunks`."""
    d = DATASETS[name]
    return d.chunks or config[d.stage]["chunks"]


def split_chunks(wildcards):
    """The chunk count of the dataset a split job cuts."""
    return dataset_chunks(wildcards.dataset)


def per_chunk(pattern, name):
    """A per-chunk path pattern filled in for every chunk of a dataset, in chunk order."""
    return expand(pattern, dataset=name, chunk=range(dataset_chunks(name)))


def stage_records(stage, once, per_chunk_job, demo_job=None, demo_input=None):
    """The timing records a stage's jobs leave, for every dataset of the stage."""
    names = datasets_of(stage) if stage in STAGES else []
    records = [f"results/timing/{job}/{name}.json" for name in names for job in once]
    if per_chunk_job:
        pattern = f"results/timing/{per_chunk_job}/{{dataset}}/{{chunk}}.json"
        records += [path for name in names for path in per_chunk(pattern, name)]
    if demo_job and any(DATASETS[n].path == demo_input for n in names):
        records.append(f"results/timing/{demo_job}.json")
    return records


def all_outputs():
    """Every final result of a bare run: the chosen stages', for every dataset, and the report."""
    wanted = {
        "sum": ["results/sum/{dataset}/total.json"],
        "train": ["results/train/{dataset}/model.json"],
        "crawl": ["results/crawl/{dataset}/pages.tsv", "results/crawl/{dataset}/summary.json"],
        "tasks": ["results/tasks/{dataset}/results.tsv"],
    }
    out = []
    for stage, patterns in wanted.items():
        if stage in STAGES:
            out += expand(patterns, dataset=datasets_of(stage))
    if "train" in STAGES:
        out += expand(PREDICT_OUTPUTS, dataset=datasets_of("predict"))
    if "supervise" in STAGES:
        out.append("results/supervise/ticks.tsv")
    return out + ["results/report/report.html"]


def finished():
    """The last line of a successful run: where the report and the results are."""
    page = Path("results/report/report.html")
    if page.exists():
        return f"poolpipe: done; the report is {page.resolve()} (results per dataset: results/<stage>/<dataset>/)"
    return "poolpipe: done; results per dataset are under results/<stage>/<dataset>/"


def sum_parts(wildcards):
    """Every chunk's partial sum of a dataset, in chunk order."""
    return per_chunk("results/sum/{dataset}/parts/{chunk}.json", wildcards.dataset)


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


def report_inputs(wildcards):
    """The results the report's sections show: every train model, prediction and crawl, and the
    benches."""
    inputs = {
        "train_models": (
            expand("results/train/{dataset}/model.json", dataset=datasets_of("train"))
            if "train" in STAGES
            else []
        ),
        "predictions": (
            expand("results/predict/{dataset}/summary.json", dataset=datasets_of("predict"))
            if "train" in STAGES
            else []
        ),
        "crawl_summaries": (
            expand("results/crawl/{dataset}/summary.json", dataset=datasets_of("crawl"))
            if "crawl" in STAGES
            else []
        ),
    }
    if "bench" in STAGES:
        inputs.update(scaling="results/bench/cpu.tsv", ipc="results/bench/ipc.tsv")
    if overhead_wanted():
        inputs.update(overhead="results/bench/overhead.tsv")
    return inputs


def overhead_wanted():
    """Whether the report explains a pool's overhead: some chosen stage runs a pool."""
    return bool({"sum", "train", "crawl", "bench"} & set(STAGES))


def pool_mem_mb(wildcards, threads, attempt):
    """Memory for a pool job: parent, each worker's interpreter and buffer, times the attempt."""
    return (256 + 128 * threads) * attempt


def ipc_mem_mb(wildcards):
    """Memory for bench_ipc: a few copies of its largest message on top of two interpreters."""
    return 512 + 4 * max(config["bench"]["ipc"]["sizes"]) // (1 << 20)


def train_parts(wildcards):
    """Every chunk's training summary of a dataset, in chunk order."""
    return per_chunk("results/train/{dataset}/parts/{chunk}.json", wildcards.dataset)


def train_target(wildcards):
    """The dataset's target column: its sheet cell, else train.target."""
    return DATASETS[wildcards.dataset].target or config["train"]["target"]


def train_features(wildcards):
    """The dataset's feature columns: its sheet cell, else train.features."""
    features = DATASETS[wildcards.dataset].features
    return list(features) if features is not None else config["train"]["features"]


PREDICT_OUTPUTS = [
    "results/predict/{dataset}/predictions.csv",
    "results/predict/{dataset}/summary.json",
]
"""The results of each predict dataset (made with the train stage)."""


def check_predict_models():
    """Every predict dataset names a train dataset of the sheet, or one sentence."""
    for d in DATASETS.values():
        if d.stage == "predict" and d.model not in datasets_of("train"):
            raise WorkflowError(
                f"dataset {d.name!r} (predict): column model names {d.model!r}, "
                "which is not a train dataset of the sheet"
            )


check_predict_models()


def predict_model(wildcards):
    """The model.json of the train dataset a predict dataset names."""
    return f"results/train/{DATASETS[wildcards.dataset].model}/model.json"


def train_pool_mem_mb(wildcards, threads, attempt):
    """Memory for a train_chunk job: parent, each worker's block and rows, times the attempt."""
    return (256 + 192 * threads) * attempt


def merge_train_threads(wildcards):
    """Processes for merge_train: a pool for the robust errors' second pass, else one."""
    return config["train"]["threads"] if config["train"]["robust"] != "none" else 1


def merge_train_mem_mb(wildcards):
    """Memory for merge_train: the full fit's limit when it compares with one."""
    full = config["train"]["full_fit_max_mb"] if config["train"]["compare_full_fit"] else 0
    return 512 + full


def tasks_root(wildcards):
    """The only folder the dataset's tasks may touch, from the sheet's root column."""
    return DATASETS[wildcards.dataset].root


def supervise_mem_mb(wildcards):
    """Memory for the supervisor: its own interpreter and one small process per loop."""
    return 256 + 64 * len(config["supervise"]["workers"])


def supervise_runtime(wildcards):
    """Minutes for the supervise job: its duration, the loops' stop timeouts, and one to spare."""
    cfg = config["supervise"]
    seconds = cfg["duration_s"] + cfg["stop_timeout_s"] * 3 * len(cfg["workers"])
    return int(seconds // 60) + 2


def crawl_parts(wildcards):
    """Every crawl chunk's rows of a dataset, in chunk order."""
    return per_chunk("results/crawl/{dataset}/parts/{chunk}.jsonl", wildcards.dataset)


def crawl_warcs(wildcards):
    """Every crawl chunk's WARC file of a dataset, in chunk order; none unless crawl.store is warc."""
    if config["crawl"]["store"] != "warc":
        return []
    return per_chunk("results/crawl/{dataset}/parts/{chunk}.warc.gz", wildcards.dataset)


def crawl_previous(wildcards):
    """The earlier pages.tsv that crawl.previous names, as an input: a new one re-runs the crawl."""
    previous = config["crawl"]["previous"]
    return [previous] if previous else []


def crawl_warc_output(path):
    """The named WARC output of a crawl rule when crawl.store is warc, else nothing."""
    return {"warc": path} if config["crawl"]["store"] == "warc" else {}


def crawl_timings(wildcards):
    """Every crawl chunk's timing record of a dataset, in chunk order (for pages/s)."""
    return per_chunk("results/timing/crawl_chunk/{dataset}/{chunk}.json", wildcards.dataset)


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
