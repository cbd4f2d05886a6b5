"""The options of the `poolpipe` command: an option that sets a config key takes its type,
range, choices, default and help from config/schema.yaml through `setting`."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

from poolpipe.core import Stopwatch, available_cpus, check_output_path
from poolpipe.core.defaults import (
    Bounds,
    bounds_of,
    range_words,
    schema_setting,
    types_of,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FROM_SCHEMA: Any = object()
"""The default of `setting`'s default: the schema's."""


def setting(name: str, *, default: Any = FROM_SCHEMA, why: str = "", **more: Any) -> dict[str, Any]:
    """The add_argument keywords of an option that sets config key `name` (e.g. "train.alpha"):
    its type and range check, choices, default and help, all from config/schema.yaml. `default`
    and `why` give a default of the command line's own and the reason for it; `more` adds or
    replaces keywords (required, metavar, a stricter type)."""
    node = schema_setting(name)
    value = node.get("default") if default is FROM_SCHEMA else default
    kinds = types_of(node)
    keywords: dict[str, Any] = {"default": value}
    if kinds == ["boolean"]:
        keywords["action"] = "store_false" if value else "store_true"
    elif "enum" in node:
        keywords["choices"] = node["enum"]
    else:
        keywords["type"] = value_type(node)
    keywords["help"] = _help(name, node, value, why, required=more.get("required", False))
    return keywords | more


def value_type(node: dict[str, Any]) -> Callable[[str], Any]:
    """An argument type: a value of one setting's schema, a list comma-separated, or the
    argument error that says what the schema allows."""
    kinds = types_of(node)
    if "array" in kinds:
        return _listed(node)
    if "integer" in kinds or "number" in kinds:
        number = in_bounds(bounds_of(node), int if "integer" in kinds else float)
        if "null" not in kinds:
            return number
        # the config's null (no limit), which the help names, given on the command line
        return lambda text: None if text == "null" else number(text)
    text = _text(node)
    return (lambda given: None if given == "null" else text(given)) if "null" in kinds else text


def _text(node: dict[str, Any]) -> Callable[[str], str]:
    """An argument type: text of the length and characters the schema allows."""
    low, high = node.get("minLength", 0), node.get("maxLength")
    pattern = re.compile(node.get("pattern", ""))

    def parse(text: str) -> str:
        if high == 1 and text == "\\t":
            text = "\t"  # a one-character setting given as the shell's two characters \t
        if len(text) < low or (high is not None and len(text) > high) or not pattern.search(text):
            raise argparse.ArgumentTypeError(f"must be {range_words(node)}, not {text!r}")
        return text

    return parse


def _listed(node: dict[str, Any]) -> Callable[[str], list[Any]]:
    """An argument type: comma-separated values, as many as the list setting allows, each
    one the schema allows its items."""
    item, low, high = value_type(node["items"]), node.get("minItems", 0), node.get("maxItems")
    kind = {"integer": "whole numbers", "number": "numbers"}.get(node["items"]["type"], "values")

    def parse(text: str) -> list[Any]:
        if not text.strip() and not low:
            return []  # an empty list, as the config's []: the setting's default meaning
        values = [item(part.strip()) for part in text.split(",")]
        if len(values) < low or (high is not None and len(values) > high):
            allowed = f"{low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{len(values)} {kind} given, {allowed} allowed")
        if node.get("uniqueItems") and len(set(values)) < len(values):
            raise argparse.ArgumentTypeError(f"{text!r} names a value twice")
        return values

    return parse


def _help(name: str, node: dict[str, Any], value: Any, why: str, *, required: bool) -> str:
    """A help text made of the setting's description, range and default."""
    text = node["description"]
    if types_of(node) == ["boolean"]:
        text = (f"do not {text}" if value else text) + (f" ({why})" if why else "")
    else:
        limits = "" if "enum" in node else range_words(node)
        text += f"; {limits}" if limits else ""
        shown = why if value is None and why else ", ".join(filter(None, [_shown(value), why]))
        text += "" if required else f" (default: {shown})"
    return f"{text} [config: {name}]".replace("%", "%%")


def _shown(value: Any) -> str:
    """A default as a help text shows it: none, "", 429, 500."""
    if value is None or value == "" or value == []:
        return '""' if value == "" else "none"
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def in_bounds(bounds: Bounds, kind: type[float] = int) -> Callable[[str], float]:
    """An argument type: a number within bounds."""
    what = "a whole number" if kind is int else "a number"

    def parse(text: str) -> float:
        try:
            if not text.isascii():  # Python reads fullwidth and other digits; ours are ASCII
                raise ValueError
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        problem = bounds.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    return parse


def folder(text: str) -> str:
    """A folder option's path, as written: an empty one (an unset shell variable) is refused,
    never read as the current folder."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path; write . for the current folder")
    return text


def list_size(setting: str) -> Callable[[str], int]:
    """An argument type: a count of items within the size config/schema.yaml gives a list."""
    node = schema_setting(setting)
    return in_bounds(Bounds(node.get("minItems", 0), node.get("maxItems")))


def list_size_help(setting: str) -> str:
    """A list setting's size in words, for a help text, e.g. "1 to 254"."""
    node = schema_setting(setting)
    return f"{node.get('minItems', 0)} to {node['maxItems']}"


def processes(stage: str) -> dict[str, object]:
    """The --processes option of a stage: its `threads` range, the usable CPUs by default."""
    return setting(
        f"{stage}.threads",
        default=available_cpus(),
        help=f"processes in the pool; {range_words(schema_setting(f'{stage}.threads'))} "
        f"(default: %(default)s, the CPUs this process may use) [config: {stage}.threads]",
    )


def check_outputs(args: argparse.Namespace, *options: str) -> None:
    """Check every output path the command was given, before any work starts."""
    for option in options:
        path = getattr(args, option)
        if path is not None:
            check_output_path(path, f"--{option.replace('_', '-')}")
    if "timing" in options and args.timing is not None:
        from poolpipe.core.timing import check_run_id

        check_run_id()  # the record's run id, which the report groups commands by


def timing_record(
    args: argparse.Namespace,
    stage: str,
    watch: Stopwatch,
    items: int,
    size: int,
    processes: int | None = None,
) -> None:
    """Write a command's timing record where --timing asks for one; processes, where given, are
    those that did the work (else --processes)."""
    if args.timing:
        from poolpipe.core.timing import write_timing  # a command without --timing skips it

        write_timing(
            args.timing,
            stage=stage,
            rule=f"poolpipe {stage}",  # what the user ran: the report tells commands apart
            watch=watch,
            items=items,
            size=size,
            processes=processes or args.processes,
        )
