"""The scanners agree on every buffer: the C one in each kernel this CPU runs (SSE2 and AVX2 on
x86-64), the same C built with its portable SWAR path, and the numpy fallback: totals, counts,
bad examples and long spans."""

from __future__ import annotations

import importlib.util
import random
import shutil
import sysconfig
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poolpipe.sum import SCANNER, numbers, pyscan

from ..helpers import with_line_ends

SOURCE = Path(numbers.__file__).with_name("_scan.c")

LINES = with_line_ends(
    st.lists(
        st.one_of(
            st.integers(-(10**20), 10**20).map(lambda v: str(v).encode()),
            st.integers(0, 10**17).map(lambda v: b"+" + str(v).encode()),
            st.integers(1, 20).map(lambda n: b"0" * n),
            st.sampled_from([b"", b" ", b"\t", b"\r", b"x", b"-", b"+", b"--1", b"1-", b"9" * 19]),
            st.binary(max_size=20),
        ),
        max_size=80,
    )
)
"""Buffers around the fast path's edges: 1 to 20 digits, signs, zeros, CRs, pads, any bytes."""

NUMBER = st.tuples(
    st.sampled_from([b"", b"-", b"+"]), st.sampled_from([*range(1, 19), 15, 16, 17, 15, 16, 17])
).flatmap(
    lambda sd: st.integers(0, 10 ** sd[1] - 1).map(
        lambda v: sd[0] + str(v).rjust(sd[1], "0").encode()
    )
)
"""A fast line, or one digit too long for it: a sign and 1 to 18 digits, 15 to 17 the likeliest."""

ODD = st.sampled_from(
    [b"", b" ", b"-", b"+-1", b"1\r", b"12a4", b"9" * 19, b"0" * 600, b"1/", b"1:"]
)
"""A line the kernels must hand to the general path."""

SHORT = st.sampled_from([b"", b"1", b"-2", b"+3", b"45", b"0"])
"""Lines short enough to put 20 to 64 newlines in a 64-byte block."""

FAST_LINES = st.tuples(
    st.integers(0, 63).map(lambda n: b"7" * n + b"\n"),
    st.sampled_from(
        [st.one_of(NUMBER, NUMBER, NUMBER, NUMBER, NUMBER, NUMBER, ODD), SHORT]
    ).flatmap(lambda line: st.lists(line, min_size=20, max_size=400)),
    st.sampled_from([b"\n", b"\r\n"]),
    st.sampled_from([b"", b"\n", b"5"]),
).map(lambda t: t[0] + t[2].join(t[1]) + t[3])
"""Long buffers of mostly fast lines (15, 16 and 17 digits among them) at every alignment, so
lines straddle 64-byte blocks and the kernels' chunks, with a few other lines among them; or
buffers of very short lines."""


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
@given(data=st.one_of(LINES, FAST_LINES), examples=st.integers(0, 12))
def test_the_portable_c_path_equals_the_default_kernel(portable_scan, data, examples):
    assert portable_scan(data, examples) == _c_scan()(data, examples)


def _kernels():
    if SCANNER != "C":
        return []
    from poolpipe.sum import _scan

    return list(_scan.KERNELS)


def test_the_default_kernel_is_the_fastest_one_supported():
    if SCANNER != "C":
        pytest.skip("the C scanner is not built here")
    from poolpipe.sum import _scan

    assert _scan.KERNELS[-1] == _scan.KERNEL
    assert _scan.scan(b"12\n-3\n", 0, _scan.KERNELS[0]) == (0, 9, 2, 0, 2, 0, [], [])
    with pytest.raises(ValueError, match="no scan kernel"):
        _scan.scan(b"1\n", 0, "no-such-kernel")


@pytest.mark.parametrize("kernel", _kernels())
@settings(max_examples=150)
@given(data=st.one_of(LINES, FAST_LINES), examples=st.integers(0, 12))
def test_every_kernel_equals_the_first_one_and_the_numpy_fallback(kernel, data, examples):
    scan = _c_scan()
    found = scan(data, examples, kernel)
    assert found == scan(data, examples, _kernels()[0])
    assert found == pyscan.scan(data, examples)


def test_the_portable_build_runs_its_swar_kernel(portable_scan):
    assert portable_scan.__self__.KERNELS == ("swar",)
    assert portable_scan.__self__.KERNEL == "swar"


@pytest.mark.parametrize("kernel", _kernels())
def test_every_kernel_on_long_buffers(kernel):
    """Many kilobytes: runs of the largest fast values, thousands of short lines in a row (up to
    32 in a 64-byte block), numbers of every fast length, odd lines among them."""
    rng = random.Random(1)
    parts = [b"9" * 16] * 3000 + [b"-" + b"9" * 15] * 3000 + [b"+" + b"9" * 15] * 700
    for _ in range(40):
        kind = rng.randrange(3)
        for _ in range(rng.randrange(1, 2000)):
            if kind == 0:
                parts.append(rng.choice([b"", b"1", b"-2", b"+3", b"45", b"0"]))
            else:
                digits = rng.choice([*range(1, 19), 15, 16, 17])
                sign = rng.choice([b"", b"-", b"+"])
                parts.append(sign + str(rng.randrange(10**digits)).rjust(digits, "0").encode())
            if rng.random() < 0.002:
                parts.append(rng.choice([b"x", b"1 2", b"9" * 25, b" 7 ", b"3\r"]))
    data = b"\n".join(parts) + b"\n"
    for start in (0, 1, 5, 17, 63):
        assert _c_scan()(data[start:], 20, kernel) == pyscan.scan(data[start:], 20)
