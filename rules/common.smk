"""Input functions and helpers shared by every rule file."""

SUM_CHUNKS = list(range(config["sum"]["chunks"]))
TRAIN_CHUNKS = list(range(config["train"]["chunks"]))


def all_outputs():
    """Every final result of the default run."""
    return [
        "results/sum/total.json",
        "results/train/model.json",
    ]


def sum_input(wildcards):
    """The numbers file to sum: the user's, or the demo file the data rules make."""
    return config["sum"]["input"]


def sum_parts(wildcards):
    """Every chunk's partial sum, in chunk order."""
    return expand("results/sum/parts/{chunk}.json", chunk=SUM_CHUNKS)


def pool_mem_mb(wildcards, threads):
    """Memory for a pool job: the parent plus each worker's interpreter and read buffer."""
    return 256 + 128 * threads


def train_input(wildcards):
    """The training CSV: the user's, or the demo file the train rules make."""
    return config["train"]["input"]


def train_parts(wildcards):
    """Every chunk's training summary, in chunk order."""
    return expand("results/train/parts/{chunk}.json", chunk=TRAIN_CHUNKS)


def train_pool_mem_mb(wildcards, threads):
    """Memory for a train_chunk job: the parent plus each worker's block and parsed rows."""
    return 256 + 192 * threads


def merge_train_mem_mb(wildcards):
    """Memory for merge_train: the full fit's limit when it compares with one."""
    full = config["train"]["full_fit_max_mb"] if config["train"]["compare_full_fit"] else 0
    return 512 + full
