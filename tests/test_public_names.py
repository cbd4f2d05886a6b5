"""Each package's public face (__all__) holds what it says, each name documented; the package
shape: the top level, one command module a stage, no stage reaching into another, no circle."""

import argparse
import ast
import importlib
import inspect
import itertools
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import poolpipe

ROOT = Path(poolpipe.__file__).parent
FACES = sorted(
    f"poolpipe.{p.name}"
    for p in ROOT.iterdir()
    if (p / "__init__.py").is_file() and p.name != "cli"
)
"""Every package but the command: its __init__.py is its face, with __all__."""
STAGES = [name for name in FACES if name != "poolpipe.core"]


def test_the_faces_are_found():
    assert {"poolpipe.core", "poolpipe.sum", "poolpipe.train", "poolpipe.crawl"} <= set(FACES)


def _top_level(module: ModuleType) -> ast.Module:
    return ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))


def _value_docs(package: ModuleType) -> dict[str, str]:
    """The docstring under each top-level `NAME = ...` of a package's modules (a value has no
    __doc__ of its own, so its documentation is the string on the line below it)."""
    found: dict[str, str] = {}
    for source in Path(package.__file__ or "").parent.glob("*.py"):
        body = ast.parse(source.read_text(encoding="utf-8")).body
        for node, after in itertools.pairwise(body):
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", 0)]
            doc = after.value.value if isinstance(after, ast.Expr) else None
            for target in targets:
                if isinstance(target, ast.Name) and isinstance(doc, str):
                    found[target.id] = doc
    return found


def _doc(package: ModuleType, name: str) -> str:
    """What documents a public name: its own docstring, or for a value the string below it."""
    obj = getattr(package, name)
    if inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj):
        doc = obj.__doc__ or ""
        # a dataclass without a docstring is given its signature as one
        return "" if inspect.isclass(obj) and doc.startswith(f"{obj.__name__}(") else doc
    return _value_docs(package).get(name, "")


@pytest.mark.parametrize("package", FACES)
def test_each_face_exports_names_it_has_each_once(package):
    module = importlib.import_module(package)
    assert len(module.__all__) == len(set(module.__all__)), "a name is in __all__ twice"
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names what it does not have: {missing}"


@pytest.mark.parametrize("package", FACES)
def test_each_face_exports_no_private_name(package):
    module = importlib.import_module(package)
    assert not [name for name in module.__all__ if name.startswith("_")]


@pytest.mark.parametrize("package", FACES)
def test_each_exported_name_has_a_summary_line(package):
    module = importlib.import_module(package)
    undocumented = [n for n in module.__all__ if not _doc(module, n).strip().splitlines()[:1]]
    assert not undocumented, f"{package}: no docstring for {undocumented}"
    blank_first = [n for n in module.__all__ if not _doc(module, n).splitlines()[0].strip()]
    assert not blank_first, f"{package}: a docstring's first line is blank for {blank_first}"


@pytest.mark.parametrize("package", [*FACES, "poolpipe.cli"])
def test_each_public_def_of_a_face_is_exported(package):
    module = importlib.import_module(package)
    defined = [
        node.name
        for node in _top_level(module).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and not node.name.startswith("_")
    ]
    assert not [name for name in defined if name not in module.__all__]


def test_the_lazy_faces_load_every_name_they_export():
    for package in FACES:
        module = importlib.import_module(package)
        where = getattr(module, "_WHERE", None)
        if where is not None:
            assert set(where) == set(module.__all__), package


def test_the_check_sees_a_value_without_its_string(tmp_path, monkeypatch):
    (tmp_path / "fake_face").mkdir()
    (tmp_path / "fake_face" / "__init__.py").write_text(
        'A = 1\n"""A is one."""\nB = 2\n__all__ = ["A", "B"]\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    fake = importlib.import_module("fake_face")
    assert _doc(fake, "A") == "A is one."
    assert _doc(fake, "B") == ""


def test_the_top_level_holds_only_the_faces_the_command_and_the_errors():
    top = {p.name for p in ROOT.iterdir() if p.name != "__pycache__"}
    assert top == {"__init__.py", "cli", "errors.py", *(s.split(".")[1] for s in FACES)}


SMALLEST_MODULE = 60
"""Lines below which a module is too small to be a concept of its own: it joins the one it
belongs to. A package's face (__init__.py) is exempt."""


@pytest.mark.parametrize("package", FACES)
def test_no_module_is_too_small_to_be_a_concept(package):
    folder = Path(importlib.import_module(package).__file__ or "").parent
    small = {
        source.name: lines
        for source in folder.glob("*.py")
        if source.name != "__init__.py"
        and (lines := len(source.read_text(encoding="utf-8").splitlines())) < SMALLEST_MODULE
    }
    assert not small, f"{package}: modules to merge into their concept's module: {small}"


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
