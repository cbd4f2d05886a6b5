"""Input functions and helpers shared by every rule file."""

SUM_CHUNKS = list(range(config["sum"]["chunks"]))


def all_outputs():
    """Every final result of the default run."""
    return ["results/sum/total.json"]


def sum_input(wildcards):
    """The numbers file to sum: the user's, or the demo file the data rules make."""
    return config["sum"]["input"]


def sum_parts(wildcards):
    """Every chunk's partial sum, in chunk order."""
    return expand("results/sum/parts/{chunk}.json", chunk=SUM_CHUNKS)


def pool_mem_mb(wildcards, threads):
    """Memory for a pool job: the parent plus each worker's interpreter and read buffer."""
    return 256 + 128 * threads
