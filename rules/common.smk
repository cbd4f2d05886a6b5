"""Input functions and helpers shared by every rule file."""

import os
import re
import sys
from pathlib import Path

import yaml

from poolpipe.core import (
    check_config,
    check_input_file,
    check_input_folder,
    content_hash,
    identify,
    one_blas_thread_per_process,
    read_datasets,
    read_small_file,
    refuse_overlap,
)
from poolpipe.core.outputs import hold_lock, unwritable_folder
from poolpipe.core.timing import start_run
from poolpipe.errors import PoolpipeError

one_blas_thread_per_process()  # every job inherits it: a pool's processes are the parallelism
RUN_ID = start_run()
"""This run's id, in the environment every job inherits (a SLURM job too: sbatch --export=ALL),
so each timing record names the run that made it; the next `snakemake` makes a new one."""


def stop(sentence):
    """End the run before any job with one sentence and nothing else: Snakemake's validate()
    would print the whole schema, and a WorkflowError raised here is printed with the file, line
    and call stack it was raised at."""
    print(sentence, file=sys.stderr)
    sys.exit(1)


try:
    check_config(
        config, yaml.safe_load(Path(workflow.source_path("../config/schema.yaml")).read_text())
    )
except PoolpipeError as exc:
    stop(str(exc))

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


OUTPUT_FOLDERS = ["results", "logs", ".snakemake"]
"""Folders the workflow writes (and may clean): no input may live there."""

RUN_LOCK = ".snakemake/run.lock"
"""The kernel lock (flock) of a run in this folder: `make run` takes it around Snakemake, a
plain `snakemake` in start_checks; a second run is refused while the first holds it."""


def start_checks():
    """Before the first job of a run (not a dry run): the folders it writes can be written (an
    output folder and the folders in it, or the workflow's folder where one is still to make),
    no other run works in this folder (a plain snakemake takes the run lock, kept until it
    ends), and the train files to split have their columns; else one sentence."""
    folders = [
        *(f for top in OUTPUT_FOLDERS if os.path.isdir(top) for f in (top, *Path(top).iterdir())),
        *(["."] if not all(os.path.isdir(top) for top in OUTPUT_FOLDERS) else []),
    ]
    problem = unwritable_folder(folders)
    if problem:
        stop(f"the run cannot write its results: {problem}")
    if not lock_held_for_us(os.environ.get("POOLPIPE_RUN_LOCK", "")):
        global RUN_LOCK_FD
        try:
            RUN_LOCK_FD = hold_lock(RUN_LOCK)
        except OSError as exc:
            stop(f"the run lock {RUN_LOCK} cannot be taken: {exc.strerror}")
        if RUN_LOCK_FD is None:
            stop(
                f"another run is working in this folder (it holds {RUN_LOCK}): wait for it, "
                "or stop it"
            )
    jobs = list(workflow.dag.needrun_jobs())
    if any(j.rule.name == "merge_train" for j in jobs):
        check_train_options()
    features = check_train_columns([j.wildcards for j in jobs if j.rule.name == "split_train"])
    check_predict_columns([j.wildcards for j in jobs if j.rule.name == "predict"], features)


def check_train_options():
    """The fit's options together (robust errors need an intercept), as merge_train takes them,
    before the split and chunk jobs that would run before it."""
    from poolpipe.train.model import Options

    t = config["train"]
    try:
        Options(alpha=t["alpha"], ridge=t["ridge"], robust=t["robust"], intercept=t["intercept"])
    except PoolpipeError as exc:
        stop(f"train: {exc}")


def lock_held_for_us(held):
    """Whether `make run` holds this folder's run lock for Snakemake (it names the lock it
    holds: with `--directory X` in ARGS, its own folder's, not X's)."""
    return bool(held) and os.path.realpath(held) == os.path.realpath(RUN_LOCK)


def check_train_columns(splits):
    """Each user's train file a split job will cut has the columns the dataset names (target,
    features, weights) and data rows, else one sentence before any job: what split_train checks
    first, without the jobs that would run before it (the train package loads only here).
    Returns the features each of these datasets fits, by name."""
    users = [w for w in splits if DATASETS[w.dataset].path not in DEMO_INPUTS]
    if not users:
        return {}
    from poolpipe.train import choose_columns

    features = {}
    for wildcards in users:
        d = DATASETS[wildcards.dataset]
        try:
            features[d.name] = choose_columns(
                d.path,
                train_target(wildcards),
                features=train_features(wildcards),
                delimiter=config["train"]["delimiter"],
                weights=config["train"]["weights"],
            ).feature_names
        except PoolpipeError as exc:
            stop(f"dataset {d.name!r} (train): {exc}")
    return features


def check_predict_columns(predicts, features):
    """Each user's predict file names the features of its model's train dataset, where this run
    splits that dataset (features: check_train_columns'), else one sentence before any job:
    what the predict job checks first, without the training it would wait for."""
    if not features:
        return
    from poolpipe.train.columns import read_header

    for wildcards in predicts:
        d = DATASETS[wildcards.dataset]
        if d.path in DEMO_INPUTS or d.model not in features:
            continue
        try:
            header = read_header(d.path, config["predict"]["delimiter"])
        except PoolpipeError as exc:
            stop(f"dataset {d.name!r} (predict): {exc}")
        missing = [name for name in features[d.model] if name not in header]
        if missing:
            stop(
                f"dataset {d.name!r} (predict): {d.path} has no column {missing[0]!r}, a "
                f"feature of train dataset {d.model!r}"
            )


def refuse_output_sheet(sheet):
    """Stop before any work if the sheet is, or resolves to, something the workflow writes."""
    real = Path(os.path.realpath(sheet))
    for output in OUTPUT_FOLDERS + sorted(DEMO_INPUTS):
        made = Path(os.path.realpath(output))
        if real == made or made in real.parents:
            stop(
                f"dataset sheet {sheet} is one of the workflow's outputs ({output}), which a run "
                "may overwrite: keep the sheet outside results/, logs/ and the demo data"
            )


def load_datasets():
    """The dataset sheet's rows by name; a retired key or a mistake in the sheet is one sentence."""
    for stage, key in RETIRED:
        if key in config.get(stage, {}):
            stop(
                f"{stage}.{key} is no longer read: the inputs are rows of the dataset sheet "
                f"({config['datasets']}); list yours in a sheet of your own and run "
                "snakemake --config datasets=my.tsv (see config/README.md)"
            )
    refuse_output_sheet(config["datasets"])
    try:
        rows = read_datasets(config["datasets"], schema=SHEET_SCHEMA)
    except PoolpipeError as exc:
        stop(str(exc))
    return {d.name: d for d in rows}


DATASETS = load_datasets()
STAGES = config["stages"]

BRACES = re.compile(r"\{[^{}]*\}")
"""What Snakemake reads as a wildcard in an input's path, even one an input function returns."""


def check_plain_paths():
    """Every input path reaches Snakemake as a file name, not a pattern that it would fill in with
    another dataset's name ({dataset}) or refuse (any other {name}); and crawl.previous exists."""
    previous = config["crawl"]["previous"]
    paths = [(f"dataset {d.name!r} ({d.stage})", d.path) for d in DATASETS.values()]
    paths += [(f"dataset {d.name!r} (tasks)", d.root) for d in DATASETS.values() if d.root]
    paths += [("crawl.previous", previous)] if previous else []
    for where, path in paths:
        found = BRACES.search(path)
        if found:
            stop(
                f"{where}: the path {path!r} holds {found[0]!r}, which Snakemake reads as a "
                "wildcard; rename the file, or link to it from a name without braces"
            )
    if previous and "crawl" in STAGES and datasets_of("crawl"):
        try:
            check_input_file(previous)
        except PoolpipeError as exc:
            stop(f"crawl.previous: {exc}")
    check_apart_from_outputs(previous)


def check_apart_from_outputs(previous):
    """No tasks root lies in, or holds, a folder the workflow writes (its tasks could rewrite
    another stage's results), and no input or crawl.previous is in one (a run rewrites it; a
    dataset's own split as its input made a cycle that merged a stale split)."""
    made = [(f"{o}/", Path(os.path.realpath(o))) for o in OUTPUT_FOLDERS]
    for d in DATASETS.values():
        if not d.root or d.root in DEMO_INPUTS:
            continue
        root = Path(os.path.realpath(d.root))
        for name, out in made:
            if root == out or out in root.parents or root in out.parents:
                stop(
                    f"dataset {d.name!r} (tasks): root folder {d.root!r} "
                    f"{'lies in' if out in root.parents or root == out else 'holds'} the "
                    f"workflow's {name}, which its tasks could rewrite; choose a folder apart "
                    "from results/, logs/ and .snakemake/"
                )
    inputs = [(f"dataset {d.name!r} ({d.stage}): input", d.path) for d in DATASETS.values()]
    inputs += [("crawl.previous", previous)] if previous else []
    for where, path in inputs:
        real = Path(os.path.realpath(path))
        for name, out in made if path not in DEMO_INPUTS else []:
            if out in real.parents:
                stop(
                    f"{where} {path!r} lies in the workflow's {name}, which a run rewrites; "
                    "copy it elsewhere first"
                )


def runs_jobs():
    """Whether Snakemake builds the DAG to run it (a dry run too), not only to report on or
    delete what a run made (--summary, --delete-all-output, --list-changes), which run no job:
    those set no execution settings."""
    return workflow.execution_settings is not None


def check_dataset(d):
    """A dataset's input is a readable file (a tasks root: a folder), or the run stops with one
    sentence. Called by the input functions, so only the targets that need it are stopped; a
    command that runs no job is not (--summary lists an output whose input went away)."""
    if not runs_jobs():
        return
    try:
        if d.path not in DEMO_INPUTS:
            check_input_file(d.path)
        if d.root and d.root not in DEMO_INPUTS:
            check_input_folder(d.root, "root folder")
    except PoolpipeError as exc:
        relative = [p for p in (d.path, d.root) if p and not os.path.isabs(p)]
        where = (
            f" (relative paths start in the workflow's folder, {os.getcwd()})" if relative else ""
        )
        stop(f"dataset {d.name!r} ({d.stage}): {exc}{where}")


def datasets_of(stage):
    """The names of a stage's datasets, in sheet order."""
    return [d.name for d in DATASETS.values() if d.stage == stage]


def dataset_pattern(stage):
    """The {dataset} wildcard of a stage's rules: exactly its datasets' names."""
    names = datasets_of(stage)
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


def dataset_input(wildcards):
    """The dataset's input file, from the sheet, once it is checked to be readable; none for a
    command that runs no job, where it went away: the job stays in the DAG, so --summary lists
    its outputs and --delete-all-output deletes them."""
    d = DATASETS[wildcards.dataset]
    if not runs_jobs() and d.path not in DEMO_INPUTS and not os.path.exists(d.path):
        return []
    check_dataset(d)
    return d.path


def input_identity(wildcards):
    """A user's input as it is now (size, mtime, fingerprint; with inputs.hash_content, the hash
    of every byte too): a changed file re-splits even when its modification time went back; a
    demo input is a rule's output, so Snakemake tracks it."""
    d = DATASETS[wildcards.dataset]
    if d.path in DEMO_INPUTS:
        return "made by a demo rule"
    if not runs_jobs() and not os.path.isfile(d.path):
        return "missing"
    try:
        found = identify(d.path)
        content = content_hash(d.path) if config["inputs"]["hash_content"] else ""
    except PoolpipeError as exc:
        stop(f"dataset {d.name!r} ({d.stage}): {exc}")
    return f"{found.size} {found.mtime_ns} {found.fingerprint} {content}".rstrip()


def dataset_chunks(name):
    """The dataset's chunk count: its sheet cell, else its stage's `chunks`."""
    d = DATASETS[name]
    return d.chunks or config[d.stage]["chunks"]


def chunk_manifest(stage):
    """A chunk job's input function: its dataset's chunk manifest, once the {chunk} asked for is
    one of the dataset's chunks (a target past them is one sentence, not a job's traceback)."""

    def manifest(wildcards):
        count, chunk = dataset_chunks(wildcards.dataset), wildcards.chunk
        if chunk != str(int(chunk)) or int(chunk) >= count:
            stop(
                f"dataset {wildcards.dataset!r} ({stage}) has {count} chunk"
                f"{'s' if count != 1 else ''}, numbered 0 to {count - 1}: there is no chunk {chunk}"
            )
        return f"results/{stage}/{wildcards.dataset}/chunks.tsv"

    return manifest


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
        records += demo_record(demo_job, demo_input)
    return records


def demo_record(job, demo_input):
    """The timing record of the job making a demo input, if the report is to read one: an input
    already there is not made again (results/ deleted, data/ kept), and then only a record
    that an earlier run left counts."""
    record = f"results/timing/{job}.json"
    return [record] if Path(record).exists() or not Path(demo_input).exists() else []


def bare_run(outputs):
    """Rule all's input function: the outputs of a run without targets (all_outputs, checked as
    the Snakefile is read, for every run), once such a run has something to make."""

    def inputs(wildcards):
        check_something_to_run()
        return outputs

    return inputs


def all_outputs():
    """Every final result of a bare run: the chosen stages', for every dataset, and the report."""
    wanted = {
        "sum": ["results/sum/{dataset}/total.json"],
        "train": ["results/train/{dataset}/model.json"],
        "crawl": ["results/crawl/{dataset}/pages.tsv", "results/crawl/{dataset}/summary.json"],
        "tasks": ["results/tasks/{dataset}/results.tsv"],
    }
    if config["crawl"]["store"] == "warc":  # asked for, so a run turning it on makes it
        wanted["crawl"].append("results/crawl/{dataset}/pages.warc.gz")
    out = []
    for stage, patterns in wanted.items():
        if stage in STAGES:
            out += expand(patterns, dataset=datasets_of(stage))
    if "train" in STAGES:
        out += expand(PREDICT_OUTPUTS, dataset=datasets_of("predict"))
    if "supervise" in STAGES:
        out.append("results/supervise/ticks.tsv")
    return check_outputs(out + ["results/report/report.html"])


def check_outputs(paths):
    """The paths, once each is checked to be writable as a file: not a folder, and under no
    file (Snakemake would take the folder for a result, or stop with a traceback); else one
    sentence before any job."""
    for path in paths:
        if Path(path).is_dir():
            stop(f"output {path} is a folder, not a file: move it out of the way")
        parent = next((p for p in Path(path).parents if p.exists() or p.is_symlink()), None)
        if parent is not None and not parent.is_dir():
            stop(
                f"output {path} cannot be written: {parent} is not a folder; move it out of the way"
            )
    return paths


def finished():
    """The last line of a successful run: where the report and the results are. A run that
    left the report out (a target, --until, --omit-from) says so: the page it names would
    otherwise pass for one of this run's results."""
    page = Path("results/report/report.html")
    dag = workflow.dag
    makers = [j for j in dag.jobs if j.rule.name == "report"]
    current = makers and all(dag.finished(j) or not dag.needrun(j) for j in makers)
    if page.exists() and current:
        return f"poolpipe: done; the report is {page.resolve()} (results per dataset: results/<stage>/<dataset>/)"
    left = f" (this run did not update the report, {page.resolve()})" if page.exists() else ""
    return f"poolpipe: done; results per dataset are under results/<stage>/<dataset>/{left}"


def sum_parts(wildcards):
    """Every chunk's partial sum of a dataset, in chunk order."""
    return per_chunk("results/sum/{dataset}/parts/{chunk}.json", wildcards.dataset)


TIMING_RECORDS = []
"""The timing record of every job the report covers: each stage's rule file adds its own."""


def timing_records(wildcards):
    """The timing record of every job the report covers, stage by stage: a parameter of the
    report, not an input, so its console lines stay short; every job that writes one is upstream
    of a result the report takes as input, so all are written before the report starts."""
    return TIMING_RECORDS


def report_inputs(wildcards):
    """The results the report shows, one file or two per dataset: each stage's final result
    (which needs every job of the stage before it) and the benches."""
    wanted = {
        "sum_totals": ("sum", "results/sum/{dataset}/total.json"),
        "train_models": ("train", "results/train/{dataset}/model.json"),
        "crawl_summaries": ("crawl", "results/crawl/{dataset}/summary.json"),
        "task_results": ("tasks", "results/tasks/{dataset}/results.tsv"),
    }
    inputs = {
        key: expand(pattern, dataset=datasets_of(stage)) if stage in STAGES else []
        for key, (stage, pattern) in wanted.items()
    }
    inputs["predictions"] = (
        expand("results/predict/{dataset}/summary.json", dataset=datasets_of("predict"))
        if "train" in STAGES
        else []
    )
    if "supervise" in STAGES:
        inputs.update(supervise="results/supervise/ticks.tsv")
    if "bench" in STAGES:
        inputs.update(scaling="results/bench/cpu.tsv", ipc="results/bench/ipc.tsv")
    if overhead_wanted():
        inputs.update(overhead="results/bench/overhead.tsv")
    if config["report"]["baseline"]:  # an input: a changed baseline makes the report again
        inputs.update(baseline=config["report"]["baseline"])
    return inputs


REPORT_OUTPUTS = {
    "html": "results/report/report.html",
    "csv": "results/report/timings.csv",
    "summary": "results/report/summary.md",
}


BASELINE_COLUMNS = ("rule", "dataset", "chunk", "wall_s")
"""The columns the report compares a baseline by (poolpipe.report.compare.NEEDED, which a test
keeps equal: the report's package loads matplotlib, too slow for every run's start)."""


def check_report_baseline():
    """report.baseline is a timings.csv by its header, and not one of the report's own outputs
    (Snakemake removes those before the report runs); else one sentence before any job, so that
    a bad one neither wastes the run nor costs the last report."""
    baseline = config["report"]["baseline"]
    try:
        refuse_overlap(
            inputs={"report.baseline": baseline or None},
            outputs={f"output {name}": path for name, path in REPORT_OUTPUTS.items()},
        )
        if baseline:
            head = read_small_file(baseline, label="report.baseline", limit=64 << 20)
            names = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip().split(",")
            missing = [c for c in BASELINE_COLUMNS if c not in names]
            if missing:
                raise PoolpipeError(
                    f"report.baseline {baseline!r} is not a timings.csv: it lacks "
                    f"{', '.join(missing)}"
                )
    except PoolpipeError as exc:
        stop(str(exc))


check_report_baseline()


def overhead_wanted():
    """Whether the report explains a pool's overhead: some chosen stage runs a pool."""
    return bool({"sum", "train", "crawl", "bench"} & set(STAGES))


def chunk_group(stage):
    """A chunk rule's group (`<stage>_chunks`, sized by the profile's group-components), or
    none under group_chunks: false, so that --slurm-array-jobs can make arrays of the jobs."""
    return f"{stage}_chunks" if config["group_chunks"] else None


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
            stop(
                f"dataset {d.name!r} (predict): column model names {d.model!r}, "
                "which is not a train dataset of the sheet"
            )


check_predict_models()
check_plain_paths()


def check_something_to_run():
    """A bare run makes something besides the report: a chosen data stage has a dataset, or
    supervise or bench is chosen; else one sentence (the old report is kept). Called by rule
    all's input function, so that a run naming its targets is not refused for `stages`."""
    if {"supervise", "bench"} & set(STAGES) or any(datasets_of(s) for s in STAGES):
        return
    stop(
        f"no dataset of the sheet {config['datasets']} is for the chosen stages "
        f"({', '.join(STAGES)}): nothing to run; add rows for them, or choose other stages"
    )


def check_stage_settings():
    """The crawl's and the supervisor's settings as their jobs would take them, checked before
    any job: a bad address range, a name used twice, a fail tick past a loop's ticks."""
    try:
        if "crawl" in STAGES and datasets_of("crawl"):
            from poolpipe.crawl.settings import CrawlSettings

            CrawlSettings.from_config(config["crawl"])
        if "supervise" in STAGES:
            from poolpipe import supervise

            cfg = config["supervise"]
            supervise.check_supervised(
                supervise.loops_from_config(cfg["workers"]),
                supervise.programs_from_config(cfg["programs"]),
            )
    except PoolpipeError as exc:
        stop(str(exc))


check_stage_settings()


def check_demo_counts():
    """The demo files hold the bad and blank lines asked for, and the train demo rows enough to
    fit: else one sentence before any job, not the demo's or the fit's."""
    numbers, train = config["demo"]["numbers"], config["demo"]["train"]
    if numbers["blank_lines"] + numbers["bad_lines"] > numbers["lines"]:
        stop(
            f"demo.numbers: {numbers['blank_lines']} blank and {numbers['bad_lines']} bad lines "
            f"do not fit in its {numbers['lines']} lines"
        )
    if train["bad_rows"] > train["rows"]:
        stop(f"demo.train: {train['bad_rows']} bad rows do not fit in its {train['rows']} rows")
    usable, features = train["rows"] - train["bad_rows"], len(train["coef"])
    if usable < features:  # split_train or merge_train would stop, after the demo job
        stop(
            f"demo.train: {train['rows']} rows less {train['bad_rows']} bad leave {usable} to "
            f"fit, fewer than its {features} coefficient{'s' if features != 1 else ''}; make rows at "
            f"least bad_rows + {features}"
        )


check_demo_counts()


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
    full = config["train"]["full_fit_max_mb"] if compare_full_fit(wildcards) else 0
    return 512 + full


def tasks_root(wildcards):
    """The only folder the dataset's tasks may touch, from the sheet's root column (none for a
    command that runs no job, where it went away: as dataset_input)."""
    root = DATASETS[wildcards.dataset].root
    return root if runs_jobs() or root in DEMO_INPUTS or os.path.exists(root) else []


def supervised(cfg):
    """How many loops and programs the supervise job runs."""
    return len(cfg["workers"]) + len(cfg["programs"])


def supervise_mem_mb(wildcards):
    """Memory for the supervisor: its own interpreter and one small process per loop (a
    program's own needs are the user's to know; each is counted as small)."""
    return 256 + 64 * supervised(config["supervise"])


def supervise_runtime(wildcards):
    """Minutes for the supervise job: its duration, the stop timeouts, and one to spare."""
    cfg = config["supervise"]
    seconds = cfg["duration_s"] + cfg["stop_timeout_s"] * 3 * supervised(cfg)
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


def demo_site_spec(wildcards):
    """The demo site a crawl job runs while it crawls, or None when the dataset does not use it."""
    if not uses_demo_setting("demo_site", wildcards.dataset):
        return None
    site = config["demo"]["crawl"]
    return {
        "pages": site["pages"],
        "page_bytes": site["page_bytes"],
        "latency": site["latency_ms"] / 1000,
    }


DEMO_SETTING_KEYS = {
    "compare_serial": ("timing", "compare_serial"),
    "compare_full_fit": ("train", "compare_full_fit"),
    "demo_site": ("crawl", "demo_site"),
}
"""Where each demo-only setting lives in the config."""


def uses_demo_setting(setting, name):
    """Whether a demo-only setting applies to a dataset: it is on in the config, and the dataset
    is a demo dataset or opts in with its sheet row's demo_settings column."""
    section, key = DEMO_SETTING_KEYS[setting]
    d = DATASETS[name]
    return bool(config[section][key]) and (d.path in DEMO_INPUTS or setting in d.demo_settings)


def compare_serial(wildcards):
    """Whether a chunk job times its work again in one process."""
    return uses_demo_setting("compare_serial", wildcards.dataset)


def serial_note(wildcards):
    """Why a chunk job measures no one-process comparison ("" when it does). A user's dataset
    that does not opt in is told so whatever timing.compare_serial is: turning that setting
    over changes nothing of its jobs, so it re-runs none of them."""
    if compare_serial(wildcards):
        return ""
    d = DATASETS[wildcards.dataset]
    if d.path not in DEMO_INPUTS and "compare_serial" not in d.demo_settings:
        return (
            f"not measured: dataset {wildcards.dataset!r} is not a demo dataset; "
            "set compare_serial in its sheet row's demo_settings column to measure"
        )
    return "not measured: timing.compare_serial is off"


def compare_full_fit(wildcards):
    """Whether merge_train fits all rows with scikit-learn too, to compare."""
    return uses_demo_setting("compare_full_fit", wildcards.dataset)


def uses_demo_site(wildcards):
    """Whether a crawl dataset's jobs run the demo site."""
    return uses_demo_setting("demo_site", wildcards.dataset)


def named(**params):
    """A rule's params, and one more, `named`, holding them all by name. Snakemake tells a
    changed param by the set of the values alone, without names: a setting turned to a value
    another param already held (train.intercept false beside train.strict false) re-ran
    nothing. Functions of the wildcards are called for `named` too."""
    if not any(callable(value) for value in params.values()):
        return {**params, "named": dict(params)}

    def by_name(wildcards):
        return {k: v(wildcards) if callable(v) else v for k, v in params.items()}

    return {**params, "named": by_name}


def crawl_settings():
    """The crawl section as a crawl job takes it, less crawl.threads (the job's processes,
    which change no result: a new count re-runs nothing)."""
    return {k: v for k, v in config["crawl"].items() if k != "threads"}
