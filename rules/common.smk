"""Input functions and helpers shared by every rule file."""

DEMO_NUMBERS = "data/numbers.txt"
SUM_CHUNKS = list(range(config["sum"]["chunks"]))


def all_outputs():
    """Every final result of the default run."""
    return ["results/sum/total.json", "results/report/report.html"]


def sum_input(wildcards):
    """The numbers file to sum: the user's, or the demo file the data rules make."""
    return config["sum"]["input"]


def sum_parts(wildcards):
    """Every chunk's partial sum, in chunk order."""
    return expand("results/sum/parts/{chunk}.json", chunk=SUM_CHUNKS)


def timing_records(wildcards):
    """The timing record of every job the report covers."""
    records = []
    if config["sum"]["input"] == DEMO_NUMBERS:
        records.append("results/timing/demo_numbers.json")
    records += ["results/timing/split_numbers.json", "results/timing/merge_sum.json"]
    records += expand("results/timing/sum_chunk/{chunk}.json", chunk=SUM_CHUNKS)
    records += ["results/timing/bench_cpu.json", "results/timing/bench_ipc.json"]
    return records


def benchmark_files(wildcards):
    """Snakemake's benchmark file of every job the report covers, beside its timing record."""
    return [
        path.replace("results/timing/", "results/benchmarks/").replace(".json", ".tsv")
        for path in timing_records(wildcards)
    ]


def pool_mem_mb(wildcards, threads, attempt):
    """Memory for a pool job: the parent plus each worker's interpreter and buffer, times the attempt."""
    return (256 + 128 * threads) * attempt


def ipc_mem_mb(wildcards):
    """Memory for bench_ipc: a few copies of its largest message on top of two interpreters."""
    return 512 + 4 * max(config["bench"]["ipc"]["sizes"]) // (1 << 20)
