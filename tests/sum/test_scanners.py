"""The three scanners agree on every buffer: the C one (SSE2 on x86-64), the same C built with
its portable SWAR path, and the numpy fallback: totals, counts, bad examples and long spans."""

from __future__ import annotations

import importlib.util
import shutil
import sysconfig
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poolpipe.sum import SCANNER, numbers, pyscan

SOURCE = Path(numbers.__file__).with_name("_scan.c")

LINES = st.lists(
    st.one_of(
        st.integers(-(10**20), 10**20).map(lambda v: str(v).encode()),
        st.integers(0, 10**17).map(lambda v: b"+" + str(v).encode()),
        st.integers(1, 20).map(lambda n: b"0" * n),
        st.sampled_from([b"", b" ", b"\t", b"\r", b"x", b"-", b"+", b"--1", b"1-", b"9" * 19]),
        st.binary(max_size=20),
    ),
    max_size=80,
).flatmap(
    lambda parts: st.lists(
        st.sampled_from([b"\n", b"\r\n", b" \n", b"\t\n", b""]),
        min_size=len(parts),
        max_size=len(parts),
    ).map(lambda ends: b"".join(p + e for p, e in zip(parts, ends, strict=True)))
)
"""Buffers around the fast path's edges: 1 to 20 digits, signs, zeros, CRs, pads, any bytes."""


def _c_scan():
    if SCANNER != "C":
        pytest.skip("the C scanner is not built here")
    from poolpipe.sum import _scan

    return _scan.scan


@pytest.fixture(autouse=True)
def scanner():
    """These tests call each scanner directly, once (not once per scanner, as the others run)."""
    return "both"


@settings(max_examples=300)
@given(data=LINES, examples=st.integers(0, 12), batch=st.sampled_from([1, 7, 64, 1 << 20]))
def test_numpy_fallback_equals_the_c_scanner(data, examples, batch):
    saved = pyscan.BATCH_BYTES
    pyscan.BATCH_BYTES = batch
    try:
        assert pyscan.scan(data, examples) == _c_scan()(data, examples)
    finally:
        pyscan.BATCH_BYTES = saved


@pytest.fixture(scope="module")
def portable_scan(tmp_path_factory):
    """_scan.c built with -DSCAN_PORTABLE (no SSE2), loaded under its own path."""
    if SCANNER != "C" or shutil.which(sysconfig.get_config_var("CC").split()[0]) is None:
        pytest.skip("no C compiler here")
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    out = tmp_path_factory.mktemp("portable")
    ext = Extension("_scan", [str(SOURCE)], define_macros=[("SCAN_PORTABLE", "1")])
    cmd = build_ext(Distribution({"ext_modules": [ext]}))
    cmd.build_lib, cmd.build_temp = str(out), str(out / "tmp")
    cmd.ensure_finalized()
    cmd.run()
    spec = importlib.util.spec_from_file_location("_scan", cmd.get_ext_fullpath("_scan"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.scan


@settings(max_examples=300)
@given(data=LINES, examples=st.integers(0, 12))
def test_the_portable_c_path_equals_the_sse2_one(portable_scan, data, examples):
    assert portable_scan(data, examples) == _c_scan()(data, examples)
