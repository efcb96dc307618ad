"""Value parsers, string expressions and request lists (qsys.grammar)."""

from __future__ import annotations

import math
import time

import pytest

from qsys.errors import InvalidRequest
from qsys.grammar.expr import compile_expression, is_expression, matches
from qsys.grammar.requests import parse_queue_list, parse_resource_list
from qsys.grammar.values import (
    INFINITE_SLOTS,
    parse_bool,
    parse_datetime,
    parse_memory,
    parse_number,
    parse_slot_range,
    parse_task_range,
    parse_time,
    parse_value,
)

# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4096", 4096), ("1.5", 1.5), ("1K", 1024), ("2M", 2 * 1024**2), ("1.5G", 1.5 * 1024**3),
     ("1T", 1024**4), ("1k", 1000), ("3m", 3e6), ("2g", 2e9), ("1t", 1e12), (" 8G ", 8 * 1024**3),
     ("0", 0), (".5K", 512)],
)
def test_memory(text: str, expected: float) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["INFINITY", "infinity", "Infinity"])
def test_memory_infinity(text: str) -> None:
    assert parse_memory(text) == math.inf


@pytest.mark.parametrize("text", ["", "G", "1X", "1GB", "1 G", "abc", "1..2", "nan"])
def test_memory_bad(text: str) -> None:
    with pytest.raises(InvalidRequest, match="memory value"):
        parse_memory(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1:30:00", 5400), ("0:0:0", 0), ("00:05:00", 300), ("3600", 3600), ("5:30", 330),
     ("::30", 30), ("1::", 3600), ("1.5", 1.5), ("48:00:00", 172800)],
)
def test_time(text: str, expected: float) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["", "1:2:3:4", "1h", "a:00", "-5", "1:-2:0"])
def test_time_bad(text: str) -> None:
    with pytest.raises(InvalidRequest, match=f'"{text}"'):
        parse_time(text)


def test_time_infinity() -> None:
    assert parse_time("INFINITY") == math.inf


def test_number() -> None:
    assert parse_number("4") == 4 and parse_number("-1.25") == -1.25
    assert parse_number("2e3") == 2000 and parse_number("1k") == 1000
    assert parse_number("INFINITY") == math.inf
    with pytest.raises(InvalidRequest, match='"four"'):
        parse_number("four")


@pytest.mark.parametrize("text", ["TRUE", "true", "True", "1", "yes", "y", "t"])
def test_bool_true(text: str) -> None:
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["FALSE", "false", "0", "no", "n", "f"])
def test_bool_false(text: str) -> None:
    assert parse_bool(text) is False


def test_bool_bad() -> None:
    with pytest.raises(InvalidRequest, match='"maybe"'):
        parse_bool("maybe")


def test_value_by_type() -> None:
    assert parse_value("INT", "4") == 4
    assert parse_value("DOUBLE", "2.5") == 2.5
    assert parse_value("MEMORY", "1G") == 1024**3
    assert parse_value("TIME", "0:10:0") == 600
    assert parse_value("BOOL", "true") is True
    for ctype in ("STRING", "CSTRING", "RESTRING", "HOST"):
        assert parse_value(ctype, "lx-amd64") == "lx-amd64"
    assert parse_value("memory", "1k") == 1000
    with pytest.raises(InvalidRequest, match='"2.5"'):
        parse_value("INT", "2.5")
    with pytest.raises(InvalidRequest, match="complex type"):
        parse_value("BLOB", "x")


# --------------------------------------------------------------------------- expressions


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("lx-amd64", "lx-amd64", True),
        ("lx-amd64", "lx-x86", False),
        ("lx*", "lx-amd64", True),
        ("lx*", "sol-sparc64", False),
        ("lx*|sol*", "sol-sparc64", True),
        ("lx*|sol*", "darwin", False),
        ("!node1", "node1", False),
        ("!node1", "node2", True),
        ("node?", "node7", True),
        ("node?", "node10", False),
        ("node[1-3]", "node2", True),
        ("node[1-3]", "node4", False),
        ("node[!1-3]", "node4", True),
        ("node*&!node1", "node2", True),
        ("node*&!node1", "node1", False),
        ("!(a|b)", "a", False),
        ("!(a|b)", "c", True),
        ("a|b&c", "a", True),  # & binds tighter than |
        ("(a|b)&c", "a", False),
        ("!!x", "x", True),
        (" a | b ", "b", True),
        ("*.q", "all.q", True),
    ],
)
def test_matches(pattern: str, value: str, expected: bool) -> None:
    assert matches(pattern, value) is expected


def test_ignore_case() -> None:
    assert not matches("LX*", "lx-amd64")
    assert matches("LX*", "lx-amd64", ignore_case=True)
    assert matches("Node1", "node1", ignore_case=True)
    assert matches("!NODE1", "node2", ignore_case=True)


def test_compiled_once() -> None:
    assert compile_expression("x*|y*") is compile_expression("x*|y*")
    predicate = compile_expression("x*|y*")
    assert predicate("xa") and predicate("yb") and not predicate("za")


@pytest.mark.parametrize("pattern", ["a|", "|a", "(a", "a)", "!", "a&&b", "", "a b"])
def test_bad_expressions(pattern: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid expression"):
        compile_expression(pattern)


def test_is_expression() -> None:
    assert is_expression("lx*") and is_expression("!a") and not is_expression("lx-amd64")


# --------------------------------------------------------------------------- request lists


def test_resource_list() -> None:
    text = 'h_vmem=1G, arch="lx*|sol*",gpu,note=\'a, b\',h_rt=1:00:00'
    expected = {"h_vmem": "1G", "arch": "lx*|sol*", "gpu": "TRUE", "note": "a, b",
                "h_rt": "1:00:00"}
    assert parse_resource_list(text) == expected


def test_resource_list_quotes_blanks_and_bare_names() -> None:
    assert parse_resource_list('a=1,b="x|y",c=!node1') == {"a": "1", "b": "x|y", "c": "!node1"}
    assert parse_resource_list("a='x,y',b=2") == {"a": "x,y", "b": "2"}
    assert parse_resource_list(" a = x y , b=' p '") == {"a": "x y", "b": " p "}
    assert parse_resource_list('a="l"x\'y\'') == {"a": "lxy"}
    assert parse_resource_list("gpu,h_rt") == {"gpu": "TRUE", "h_rt": "TRUE"}
    assert parse_resource_list("gpu,h_rt=60", bare="") == {"gpu": "", "h_rt": "60"}


@pytest.mark.parametrize("text", ["", "a=", "=1", "a,,b", 'a="open', "a b=1", "'a'=1", "a'b'=1", "1a=2", "a=,b"])
def test_resource_list_bad(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_resource_list(text)


def test_queue_list() -> None:
    assert parse_queue_list("all.q, gpu*@node[12],big.q@@bighosts,@node3") == [
        "all.q", "gpu*@node[12]", "big.q@@bighosts", "@node3"]


@pytest.mark.parametrize("text", ["", "a.q,", ",a.q", "a.q@", "a@b@c@d"])
def test_queue_list_bad(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_queue_list(text)


def test_datetime() -> None:
    assert parse_datetime("203012312359.59") == time.mktime((2030, 12, 31, 23, 59, 59, 0, 0, -1))
    assert parse_datetime("7101010000") == time.mktime((1971, 1, 1, 0, 0, 0, 0, 0, -1))
    this_year = time.localtime().tm_year
    assert parse_datetime("06151200") == time.mktime((this_year, 6, 15, 12, 0, 0, 0, 0, -1))
    for bad in ("1", "20301301", "203002301200", "2030010112000", "12311200.5", "abcdefgh",
                "196001010000", "203001011200.60"):
        with pytest.raises(InvalidRequest, match="date/time"):
            parse_datetime(bad)


@pytest.mark.parametrize(("year", "full"), [("00", 2000), ("26", 2026), ("68", 2068), ("69", 2069),
                                              ("70", 1970), ("99", 1999)])
def test_two_digit_year_follows_grid_engine(year: str, full: int) -> None:
    """SGE 8.1.9's qsub -a took 6901010000 for 2069 and 2601010000 for 2026."""
    assert parse_datetime(f"{year}06011200") == time.mktime((full, 6, 1, 12, 0, 0, 0, 0, -1))


def test_slot_and_task_ranges() -> None:
    assert parse_slot_range("3") == (3, 3) and parse_slot_range("-4") == (1, 4)
    assert parse_slot_range("2-") == (2, INFINITE_SLOTS) and parse_slot_range("2-6") == (2, 6)
    assert parse_task_range("4") == (4, 4, 1) and parse_task_range("1-10:4") == (1, 10, 4)
    for bad in ("6-2", "x", "0", "1-2-3"):
        with pytest.raises(InvalidRequest, match="slot range"):
            parse_slot_range(bad)
    for bad in ("0-3", "3-1", "1-5:0", "1-x", "a"):
        with pytest.raises(InvalidRequest, match="task range"):
            parse_task_range(bad)
