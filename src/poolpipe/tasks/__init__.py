"""The tasks stage: a JSON Lines manifest of file tasks run by a queue, confined to one root."""

from poolpipe.tasks.demo import write_demo
from poolpipe.tasks.queue import Summary, TaskResult, run_tasks, run_to_file, write_results
from poolpipe.tasks.root import Root

__all__ = [
    "Root",
    "Summary",
    "TaskResult",
    "run_tasks",
    "run_to_file",
    "write_demo",
    "write_results",
]
