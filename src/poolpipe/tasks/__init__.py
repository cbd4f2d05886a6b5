"""The tasks stage: a JSON Lines manifest of file tasks run by a queue, confined to one root."""

from poolpipe.tasks.demo import write_demo
from poolpipe.tasks.queue import run_to_file

__all__ = ["run_to_file", "write_demo"]
