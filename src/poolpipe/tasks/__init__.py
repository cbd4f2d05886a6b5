"""The tasks stage: a JSON Lines manifest of file tasks run by a queue, confined to one root."""

from poolpipe.tasks.demo import write_demo
from poolpipe.tasks.journal import journal_path
from poolpipe.tasks.queue import TaskPolicy
from poolpipe.tasks.run import run_to_file

__all__ = ["TaskPolicy", "journal_path", "run_to_file", "write_demo"]
