"""pyproject.toml declares what the code imports, and envs/poolpipe.yaml and requirements.lock
say the same: the three cannot drift apart.

The conda environment cannot be built on the machines that run these tests (no conda channel
is reachable from them), so this comparison is what stands in for building it.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
CONDA_ENV = ROOT / "envs" / "poolpipe.yaml"
LOCK = ROOT / "requirements.lock"
REQUIREMENTS_IN = ROOT / "requirements.in"

CONDA_TOOLS = {"python", "pip", "c-compiler"}
"""What the conda environment holds to build and install poolpipe itself, not to run it."""
CONDA_NAMES = {"matplotlib-base": "matplotlib"}
"""conda-forge's name for a distribution where it differs from PyPI's."""
NOT_IN_CONDA_ENV = {"snakemake"}
"""Snakemake puts its own package on a rule script's path: a rule's environment needs no copy."""
SMK_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", re.MULTILINE)


def declared() -> dict[str, Requirement]:
    """pyproject.toml's dependencies by canonical name."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    assert "optional-dependencies" not in project, "an extra needs its one-sentence error: test it"
    reqs = [Requirement(line) for line in project["dependencies"]]
    return {canonicalize_name(r.name): r for r in reqs}


def python_imports(source: str) -> set[str]:
    """The top-level modules a Python file imports (relative imports aside)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def workflow_imports() -> dict[str, set[str]]:
    """Every third-party top-level module imported by the library, the rule scripts and the
    Snakefile and rule files, with the files that import it."""
    files = [*(ROOT / "src" / "poolpipe").rglob("*.py"), *(ROOT / "scripts").glob("*.py")]
    found: dict[str, set[str]] = {}
    for path in files:
        for module in python_imports(path.read_text(encoding="utf-8")):
            found.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    for path in [ROOT / "Snakefile", *(ROOT / "rules").glob("*.smk")]:
        for match in SMK_IMPORT.finditer(path.read_text(encoding="utf-8")):
            module = (match.group(1) or match.group(2)).split(".")[0]
            found.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    return {
        m: where
        for m, where in found.items()
        if m not in sys.stdlib_module_names and m != "poolpipe"
    }


def distribution_of(module: str) -> str:
    """The canonical name of the installed distribution that provides a top-level module."""
    dists = packages_distributions().get(module)
    if not dists:
        pytest.fail(f"{module} is imported, but no installed distribution provides it")
    return canonicalize_name(dists[0])


def locked() -> dict[str, tuple[Version, int]]:
    """requirements.lock's pins: canonical name -> (version, number of hashes)."""
    pins: dict[str, tuple[Version, int]] = {}
    for block in re.split(r"\n(?=\S)", LOCK.read_text(encoding="utf-8")):
        head = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if head:
            pins[canonicalize_name(head[1])] = (Version(head[2]), block.count("--hash=sha256:"))
    return pins


def conda_dependencies() -> dict[str, str]:
    """envs/poolpipe.yaml's conda packages: PyPI's canonical name -> conda's version spec."""
    env = yaml.safe_load(CONDA_ENV.read_text(encoding="utf-8"))
    specs = {}
    for item in env["dependencies"]:
        if isinstance(item, dict):
            continue  # the pip section installs poolpipe itself
        name, _, spec = item.partition("=")
        if name not in CONDA_TOOLS:
            specs[canonicalize_name(CONDA_NAMES.get(name, name))] = spec
    return specs


def test_every_import_is_declared_and_every_declared_one_imported():
    imports = workflow_imports()
    assert {"numpy", "urllib3", "warcio", "matplotlib", "sklearn", "jsonschema"} <= set(imports)
    needed = {distribution_of(m): sorted(where) for m, where in imports.items()}
    missing = {name: where for name, where in needed.items() if name not in declared()}
    assert missing == {}, "imported but not in pyproject.toml's dependencies"
    assert sorted(set(declared()) - set(needed)) == [], "declared but imported nowhere"


def test_the_conda_environment_lists_the_same_distributions():
    assert set(conda_dependencies()) == set(declared()) - NOT_IN_CONDA_ENV


@pytest.mark.parametrize("name", sorted(set(declared()) - NOT_IN_CONDA_ENV))
def test_the_conda_version_is_the_locked_one_and_allowed(name):
    spec = conda_dependencies()[name].removesuffix(".*")
    version, _ = locked()[name]
    assert spec, f"envs/poolpipe.yaml: pin {name} to the lock's {version}"
    # conda's `name=1.2` means 1.2 or any 1.2.x
    assert str(version) == spec or str(version).startswith(spec + "."), (name, spec, version)
    assert declared()[name].specifier.contains(Version(spec), prereleases=True)


def test_the_lock_pins_every_dependency_within_its_range_with_hashes():
    pins = locked()
    reqs = [*declared().values()]
    for line in REQUIREMENTS_IN.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith(("#", "-")):
            reqs.append(Requirement(line))
    for req in reqs:
        name = canonicalize_name(req.name)
        assert name in pins, f"requirements.lock does not pin {name}"
        version, hashes = pins[name]
        assert req.specifier.contains(version, prereleases=True), (str(req), str(version))
        assert hashes > 0, f"requirements.lock pins {name} without a hash"


def test_the_checks_see_a_missing_import_and_a_loose_pin():
    assert python_imports("import a.b\nfrom c.d import e\nfrom . import f\n") == {"a", "c"}
    assert SMK_IMPORT.findall("from snakemake.utils import x\nimport yaml\n") == [
        ("snakemake.utils", ""),
        ("", "yaml"),
    ]
    assert not Requirement("urllib3>=2").specifier.contains(Version("1.26.20"))
