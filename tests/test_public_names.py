"""Each package's public face (__all__) is pinned: a change to it is a decision, not an accident."""

import argparse
import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import poolpipe

FACES = {
    "poolpipe.core": [
        "BLOCK_SIZE",
        "Block",
        "Dataset",
        "InputIdentity",
        "Range",
        "Stopwatch",
        "TimingRecord",
        "USER_AGENT",
        "available_cpus",
        "check_config",
        "check_identity",
        "check_input_file",
        "check_input_folder",
        "check_output_path",
        "checked_manifest",
        "content_hash",
        "die_with_parent",
        "dumps_json",
        "header_end",
        "identify",
        "iter_blocks",
        "job_processes",
        "lines_before",
        "merge_ordered",
        "one_blas_thread_per_process",
        "open_atomic",
        "pieces_for",
        "pool_map",
        "read_datasets",
        "read_json",
        "read_manifest",
        "read_manifest_identity",
        "read_record",
        "read_small_file",
        "refuse_overlap",
        "run_script",
        "schema_defaults",
        "scratch_folder",
        "serial_map",
        "split_file",
        "split_range",
        "timed_with_serial",
        "tsv",
        "write_atomic",
        "write_job_timing",
        "write_json",
        "write_manifest",
        "write_record",
        "write_timing",
    ],
    "poolpipe.sum": [
        "SCANNER",
        "SumPart",
        "merge_parts",
        "result_json",
        "scanner_note",
        "sum_file",
        "sum_ranges",
        "write_numbers",
    ],
    "poolpipe.train": [
        "Columns",
        "Options",
        "Scatter",
        "TrainPart",
        "choose_columns",
        "model_json",
        "parse_block",
        "predict_file",
        "row_capacity",
        "solve",
        "summary_text",
        "train_chunks",
        "train_file",
        "write_train",
    ],
    "poolpipe.crawl": [
        "GRACE_S",
        "PAGE_FIELDS",
        "ChunkStats",
        "CrawlSettings",
        "CrawlTally",
        "ErrorKind",
        "PageRow",
        "Progress",
        "SiteSpec",
        "UrlIndex",
        "crawl_file",
        "crawl_range",
        "demo_site",
        "index_urls",
        "iter_rows",
        "join_warcs",
        "serve",
        "showing",
        "summary",
        "write_pages",
        "write_urls",
    ],
    "poolpipe.tasks": ["TaskPolicy", "journal_path", "run_to_file", "write_demo"],
    "poolpipe.supervise": [
        "Program",
        "SEED_LOOPS",
        "SupervisorSettings",
        "check",
        "check_paths",
        "loops_from_config",
        "parse_loop",
        "parse_program",
        "program_log",
        "programs_from_config",
        "supervise",
        "ticks_tsv",
        "with_heartbeats",
        "write_ticks",
    ],
    "poolpipe.bench": [
        "CostModel",
        "IpcPoint",
        "OverheadPoint",
        "ScalingPoint",
        "Timed",
        "amdahl_serial_fraction",
        "amdahl_speedup",
        "cpu_scaling",
        "double_shared",
        "fit_cost_model",
        "ipc_costs",
        "measure_overhead",
    ],
    "poolpipe.report": [
        "Judgement",
        "build",
        "crawl_section",
        "fit_section",
        "predict_section",
        "describe",
        "from_another_run",
        "result_sections",
        "train_section",
        "write",
    ],
}
STAGES = [name for name in FACES if name != "poolpipe.core"]
ROOT = Path(poolpipe.__file__).parent


@pytest.mark.parametrize("package", sorted(FACES))
def test_each_face_exports_exactly_its_pinned_names(package):
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(FACES[package])
    assert all(hasattr(module, name) for name in module.__all__)


def test_the_top_level_holds_only_the_faces_the_command_and_the_errors():
    top = {p.name for p in ROOT.iterdir() if p.name != "__pycache__"}
    assert top == {"__init__.py", "cli", "errors.py", *(s.split(".")[1] for s in FACES)}


def test_the_command_has_one_small_module_per_stage():
    folder = ROOT / "cli"
    for module in folder.glob("*.py"):
        assert len(module.read_text().splitlines()) <= 200, f"{module.name} outgrew one stage"
        for line in module.read_text().splitlines():
            if line.startswith("from poolpipe.cli"):
                assert line.split()[1] in {"poolpipe.cli", "poolpipe.cli.options"}, line


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def test_each_command_is_built_from_the_module_its_map_names():
    from poolpipe import cli

    assert _commands(cli.build_parser()) == set(cli.COMMANDS)
    assert set(cli.COMMANDS.values()) == set(cli.MODULES)
    for command, module in cli.COMMANDS.items():
        own = {name for name, where in cli.COMMANDS.items() if where == module}
        assert _commands(cli.build_parser(command)) == own, command


def test_scripts_reach_the_library_through_the_faces_only():
    for script in sorted((ROOT.parents[1] / "scripts").glob("*.py")):
        for line in script.read_text().splitlines():
            if line.startswith("from poolpipe"):
                module = line.split()[1]
                assert module in FACES or module == "poolpipe", f"{script.name}: {line}"


@pytest.mark.parametrize("package", STAGES)
def test_no_stage_imports_another_stage_internals(package):
    folder = Path(importlib.import_module(package).__file__).parent
    others = [s for s in STAGES if s != package]
    for source in folder.glob("*.py"):
        text = source.read_text()
        for other in others:
            assert f"from {other}." not in text, f"{source} imports {other}'s internals"
            assert f"import {other}." not in text, f"{source} imports {other}'s internals"


def test_no_public_class_name_is_used_twice():
    seen: dict[str, str] = {}
    for package in FACES:
        folder = importlib.import_module(package).__path__[0]
        for info in sorted(pkgutil.iter_modules([folder])):
            module = importlib.import_module(f"{package}.{info.name}")
            for name, obj in vars(module).items():
                if inspect.isclass(obj) and obj.__module__ == module.__name__ and name[0] != "_":
                    assert name not in seen, f"{name} is in {seen.get(name)} and {module.__name__}"
                    seen[name] = module.__name__


def _imports(path: Path) -> set[str]:
    """The poolpipe modules a file imports anywhere (type-only and in functions too), package
    faces left out."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            file = ROOT.parent.joinpath(*name.split("."))
            if name.startswith("poolpipe.") and file.with_suffix(".py").is_file():
                found.add(name)
    return found


def test_no_module_imports_itself_round_a_circle():
    graph = {
        ".".join(p.relative_to(ROOT.parent).with_suffix("").parts): _imports(p)
        for p in ROOT.rglob("*.py")
        if p.name != "__init__.py"
    }
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circle = [*path[path.index(module) :], module]
            raise AssertionError("import circle: " + " -> ".join(circle))
        if module in done or module not in graph:
            return
        for other in sorted(graph[module]):
            visit(other, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
