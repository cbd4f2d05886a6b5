"""CSV rows for the train stage: the C parser against the Python reference rule, and the columns."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poolpipe.errors import PoolpipeError
from poolpipe.train.columns import Columns, choose_columns, read_header
from poolpipe.train.rows import MALFORMED_QUOTES, parse_block, parse_cell, parse_line, split_fields


def cols(header: str, target: str, features: list[str], delimiter: str = ",") -> Columns:
    """Columns for a header given as text (no file needed to parse lines)."""
    names = tuple(split_fields(header.encode(), delimiter.encode()))
    names = tuple(n.decode() for n in names)
    return Columns(
        path="mem.csv",
        delimiter=delimiter,
        header=names,
        features=tuple(names.index(f) for f in features),
        target=names.index(target),
        reference=(0.0,) * (len(features) + 1),
    )


def bits(values) -> bytes:
    """The exact bits of a sequence of floats (so -0.0 and 0.0 differ)."""
    return struct.pack(f"{len(values)}d", *values)


def reference_block(data: bytes, columns: Columns):
    """Parse a block line by line with the reference rule."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    rows, blanks, bad = [], 0, []
    for i, line in enumerate(lines):
        got = parse_line(line, columns)
        if got is None:
            blanks += 1
        elif isinstance(got, str):
            bad.append(i + 1)
        else:
            rows.append(got)
    return rows, len(lines), blanks, bad


def assert_same_as_reference(data: bytes, columns: Columns) -> None:
    rows, lines, blanks, bad = reference_block(data, columns)
    parsed = parse_block(data, columns, max_examples=len(bad) + 1)
    assert parsed.lines == lines
    assert parsed.blank_lines == blanks
    assert parsed.bad_rows == len(bad)
    assert [ex.line for ex in parsed.examples] == bad
    assert parsed.values.shape == (len(rows), columns.width)
    assert bits(parsed.values.ravel().tolist()) == bits([v for row in rows for v in row])


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        (b"0", 0.0),
        (b"-0", -0.0),
        (b"+1.5", 1.5),
        (b" \t2.25 ", 2.25),
        (b"1.", 1.0),
        (b".5", 0.5),
        (b"-.5e-3", -0.0005),
        (b"1E5", 100000.0),
        (b"0.1", 0.1),
        (b"123456789012345678901234567890", 123456789012345678901234567890.0),
        (b"1.7976931348623157e308", 1.7976931348623157e308),
        (b"4.9e-324", 5e-324),
        (b"1e-400", 0.0),
        (b"0.30000000000000004", 0.30000000000000004),
        (b"9007199254740993", 9007199254740992.0),
        (b"", "empty"),
        (b"  ", "empty"),
        (b"abc", "not a number"),
        (b"1.2.3", "not a number"),
        (b"1e", "not a number"),
        (b".", "not a number"),
        (b"e5", "not a number"),
        (b"1_000", "not a number"),
        (b"0x10", "not a number"),
        (b"nan", "not a number"),
        (b"inf", "not a number"),
        (b"1 2", "not a number"),
        (b"--1", "not a number"),
        (b"\xd9\xa1", "not a number"),
        (b"1e400", "not a finite number"),
        (b"-2e308", "not a finite number"),
    ],
)
def test_cell_rule_and_the_c_parser_agree(cell, value):
    assert parse_cell(cell) == value or (
        isinstance(value, float) and bits([parse_cell(cell)]) == bits([value])
    )
    columns = cols("a,b", "b", ["a"])
    data = cell + b",7\n"
    parsed = parse_block(data, columns)
    if isinstance(value, str):
        assert parsed.bad_rows == 1 and len(parsed.values) == 0
        assert parsed.examples[0].reason.startswith(f"column 'a' is {value}")
    else:
        assert bits(parsed.values[0].tolist()) == bits([value, 7.0])


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        (b"a,b,c", [b"a", b"b", b"c"]),
        (b"", [b""]),
        (b"a,", [b"a", b""]),
        (b',"x, y",z', [b"", b"x, y", b"z"]),
        (b'"say ""hi""",1', [b'say "hi"', b"1"]),
        (b'a"b,c', [b'a"b', b"c"]),
        (b'1,world"', None),  # the end of a quoted field that began on an earlier line
        (b'world",1', None),
        (b'"open,1', None),
        (b'"a"b,1', None),
        (b'"a" ,1', None),
    ],
)
def test_split_fields(line, fields):
    assert split_fields(line, b",") == fields


@pytest.mark.parametrize(
    ("line", "want"),
    [
        (b"1,2,3", (1.0, 3.0)),
        (b"1,text,3\r", (1.0, 3.0)),
        (b'"1","a, b"," 3 "', (1.0, 3.0)),
        (b"   ", None),
        (b"\r", None),
        (b"1,2", "has 2 fields, the header has 3"),
        (b"1,2,3,4", "has 4 fields, the header has 3"),
        (b"1", "has 1 field, the header has 3"),
        (b",2,3", "column 'x' is empty"),
        (b"1,2,NA", "column 'y' is not a number: 'NA'"),
        (b"1,2,1e999", "column 'y' is not a finite number: '1e999'"),
        (b'"1,2,3', MALFORMED_QUOTES),
        (b'1,text",3', MALFORMED_QUOTES),
        (b'"1""",2,3', "column 'x' is not a number: '1\"'"),
    ],
)
def test_reference_rule_for_a_line(line, want):
    columns = cols("x,name,y", "y", ["x"])
    assert parse_line(line, columns) == want
    assert_same_as_reference(line + b"\n", columns)


DIGITS = st.text(alphabet="0123456789", max_size=3)
NUMBERISH = st.tuples(
    st.sampled_from(["", "", "", " ", "\t", '"']),
    st.sampled_from(["", "", "+", "-", "--"]),
    DIGITS,
    st.sampled_from(["", ".", ".", ".."]),
    DIGITS,
    st.sampled_from(["", "", "", "e", "E", "e+", "e-", "x"]),
    DIGITS,
    st.sampled_from(["", "", "", " ", '"', "a"]),
).map(lambda parts: "".join(parts).encode())
OTHER = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(lambda v: repr(v).encode()),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda v: f"{v:.3e}".encode()),
    st.integers(-(10**30), 10**30).map(lambda v: str(v).encode()),
    st.text(alphabet='0123456789.eE+- \t",ax', max_size=12).map(str.encode),
    st.sampled_from([b"", b"nan", b"inf", b"1e400", b"-0", b"1e-400", b'"1.5"', b"\xff"]),
)
CELL = st.one_of(NUMBERISH, NUMBERISH, OTHER)
LINE = st.one_of(
    st.lists(CELL, min_size=3, max_size=3).map(b",".join),
    st.lists(CELL, min_size=3, max_size=3).map(b",".join),
    st.lists(CELL, min_size=1, max_size=5).map(b",".join),
    st.sampled_from([b"", b" ", b"\t\r", b"1,2,3\r"]),
)


@given(st.lists(LINE, max_size=30), st.booleans())
@settings(max_examples=1000)
def test_the_c_parser_follows_the_reference_rule(lines, trailing_newline):
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    assert_same_as_reference(data, cols("a,b,c", "c", ["a"]))
    assert_same_as_reference(data, cols("a,b,c", "a", ["c", "b"]))


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=2, max_size=40))
def test_every_double_survives_its_repr(values):
    data = b"".join(
        f"{a!r};{b!r}\n".encode() for a, b in zip(values[::2], values[1::2], strict=False)
    )
    parsed = parse_block(data, cols("a;b", "b", ["a"], ";"))
    n = len(values) // 2
    assert bits(parsed.values.ravel().tolist()) == bits(values[: 2 * n])


def test_many_digits_and_extreme_exponents_round_like_python():
    rng = np.random.default_rng(3)
    cells = []
    for _ in range(3000):
        digits = "".join(rng.choice(list("0123456789"), size=int(rng.integers(1, 40))))
        point = int(rng.integers(0, len(digits) + 1))
        exp = int(rng.integers(-330, 310))
        cells.append(f"{digits[:point]}.{digits[point:]}e{exp}" if point else f"{digits}e{exp}")
    data = "".join(f"{c},1\n" for c in cells).encode()
    parsed = parse_block(data, cols("a,b", "b", ["a"]))
    want = [float(c) for c in cells if math.isfinite(float(c))]
    assert parsed.bad_rows == len(cells) - len(want)
    assert bits(parsed.values[:, 0].tolist()) == bits(want)


def test_the_output_buffer_is_checked():
    columns = cols("a,b", "b", ["a"])
    with pytest.raises(ValueError, match="too small"):
        parse_block(b"1,2\n3,4\n", columns, out=np.empty((1, 2)))


def write(tmp_path: Path, text: bytes, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text)
    return path


def test_header_byte_order_mark_crlf_quotes_and_unnamed_fields(tmp_path):
    path = write(tmp_path, b'\xef\xbb\xbf"id", x ,,y\r\n1,2,3,4\r\n')
    assert read_header(path, ",") == ("id", "x", "Unnamed: 2", "y")


def test_default_features_are_the_other_numeric_columns(tmp_path):
    rows = [b"id,a,name,b,y"] + [f"r{i},{i},n{i},{i * i % 7},{i / 3}".encode() for i in range(50)]
    rows[5] = b"r4,NA,n4,1,2"
    path = write(tmp_path, b"\n".join(rows) + b"\n")
    columns = choose_columns(path, "y")
    assert columns.feature_names == ["a", "b"]
    assert columns.ignored == ["id", "name"]
    assert columns.reference == (0.0, 0.0, 0.0)
    named = choose_columns(path, "a", features=["y"])
    assert (named.feature_names, named.target_name, named.used) == (["y"], "a", (4, 1))


def test_the_reference_row_is_the_first_good_row(tmp_path):
    path = write(tmp_path, b"x,y\n\nbad,1\n,2\n 5 , 6\n7,8\n")
    assert choose_columns(path, "y").reference == (5.0, 6.0)


def test_columns_round_trip_through_json(tmp_path):
    path = write(tmp_path, b"a;b;c\n1;2;3\n")
    columns = choose_columns(path, "b", delimiter=";")
    assert Columns.from_json(columns.to_json()) == columns
    assert columns.to_json()["features"] == ["a", "c"]


@pytest.mark.parametrize(
    ("text", "target", "features", "delimiter", "message"),
    [
        (b"", "y", [], ",", "is empty; a CSV file with a header line is expected"),
        (b"x,y\n", "y", [], ",", "has a header but no data rows"),
        (b"x,y\n\n  \n", "y", [], ",", "has a header but no data rows"),
        (b"x,y\n1,2\n", "z", [], ",", "has no target column 'z'; its columns are 'x', 'y'"),
        (b"x,y\n1,2\n", "y", ["w"], ",", "has no feature column 'w'"),
        (b"x,y\n1,2\n", "y", ["y"], ",", "the target 'y' is also named as a feature"),
        (b"x,y\n1,2\n", "y", ["x", "x"], ",", "a feature is named twice"),
        (b"x,x,y\n1,2,3\n", "y", [], ",", "the header names column 'x' twice"),
        (
            b"x,,Unnamed: 1,y\n1,2,3,4\n",
            "y",
            [],
            ",",
            "column 2 of the header has no name, and 'Unnamed: 1', the name it would be given, "
            "is another column's: name it",
        ),
        (b"name,y\na,2\n", "y", [], ",", "no numeric column besides the target 'y'"),
        (b"x,y\n1,2\n", "y", [], "ab", "the delimiter must be one ASCII character"),
        (b"x,y\n1,2\n", "y", [], '"', "the delimiter must be one ASCII character"),
        (b'"x,y\n1,2\n', "y", [], ",", "the header line is not a CSV header"),
        (b"\nx,y\n1,2\n", "y", [], ",", "the first line is blank; the header must be the first"),
        (b" \t\r\nx,y\n1,2\n", "y", [], ",", "the first line is blank; the header must be"),
    ],
)
def test_bad_files_and_columns_are_one_sentence(
    tmp_path, text, target, features, delimiter, message
):
    path = write(tmp_path, text)
    with pytest.raises(PoolpipeError, match=message.replace("(", r"\(")):
        choose_columns(path, target, features=features, delimiter=delimiter)


@pytest.mark.parametrize(
    ("text", "delimiter", "other"),
    [(b"x;y\n1;2\n", ",", ";"), (b"x\ty\n1\t2\n", ",", "\t"), (b"x,y\n1,2\n", ";", ",")],
)
def test_a_header_of_one_column_asks_about_the_delimiter(tmp_path, text, delimiter, other):
    path = write(tmp_path, text)
    hint = f" (one column holding {other!r}: is the delimiter {other!r}?)"
    with pytest.raises(PoolpipeError) as caught:
        choose_columns(path, "y", delimiter=delimiter)
    assert str(caught.value).endswith(hint)
    with pytest.raises(PoolpipeError) as caught:
        choose_columns(write(tmp_path, b"x,z\n1,2\n"), "y")
    assert "delimiter" not in str(caught.value)


def test_numbers_with_a_decimal_comma_are_named_when_no_feature_is_left(tmp_path):
    path = write(tmp_path, b"x;y\n1,5;2,3\n2,5;4,1\n")
    with pytest.raises(PoolpipeError) as caught:
        choose_columns(path, "y", delimiter=";")
    assert str(caught.value).endswith(
        "to use as a feature (cells such as '1,5' have a decimal comma; numbers take a '.')"
    )
    with pytest.raises(PoolpipeError) as caught:
        choose_columns(write(tmp_path, b"x;y\na;2\n"), "y", delimiter=";")
    assert str(caught.value).endswith("to use as a feature")


def test_the_delimiter_in_use_is_never_the_one_asked_about(tmp_path):
    path = write(tmp_path, b'"x;y"\n1\n')  # one quoted column holding the delimiter in use
    with pytest.raises(PoolpipeError) as caught:
        choose_columns(path, "y", delimiter=";")
    assert str(caught.value).endswith("its columns are 'x;y'")


def test_a_quoted_header_that_splits_on_another_delimiter_asks_about_it(tmp_path):
    path = write(tmp_path, b'"x";"y"\n1;2\n')  # a semicolon export, read with a comma
    with pytest.raises(PoolpipeError) as caught:
        choose_columns(path, "y")
    assert str(caught.value).endswith(
        "the header line is not a CSV header with ',' (is the delimiter ';'?)"
    )


def test_long_column_names_are_shortened_in_the_sentence(tmp_path):
    names = [b"n" * 5000 + str(i).encode() for i in range(30)]
    path = write(tmp_path, b",".join([*names, b"y"]) + b"\n" + b"1," * 30 + b"2\n")
    with pytest.raises(PoolpipeError) as caught:
        choose_columns(path, "z")
    text = str(caught.value)
    assert "its columns are 'nnnnn" in text and "...', " in text and text.endswith(", ...")
    assert len(text) < 1200
    path = write(tmp_path, b",".join([names[0], names[0], b"y"]) + b"\n1,1,2\n")
    with pytest.raises(PoolpipeError, match=r"names column 'n{37}\.\.\.' twice$"):
        choose_columns(path, "y")


def test_a_missing_file_and_a_directory_are_one_sentence(tmp_path):
    with pytest.raises(PoolpipeError, match="does not exist"):
        choose_columns(tmp_path / "absent.csv", "y")
    with pytest.raises(PoolpipeError, match="is a directory"):
        choose_columns(tmp_path, "y")


def test_a_header_of_odd_bytes_is_shown_escaped_once_and_safe_for_a_terminal(tmp_path):
    path = write(tmp_path, b"a\x91b,c\x1fd,y\n1,2,3\n")
    with pytest.raises(PoolpipeError) as caught:
        choose_columns(path, "z")
    assert str(caught.value).endswith("its columns are 'a\\x91b', 'c\\x1fd', 'y'")
