"""Complex values: memory, time, numbers, booleans, string expressions, comparison."""

from __future__ import annotations

import math

import pytest

from qsys.errors import InvalidRequest
from qsys.sched import DEFAULT_COMPLEXES, compare, match_expression, parse_memory, parse_time, parse_value
from qsys.sched.snapshot import complex_index, parse_complex_table


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100", 100.0),
        ("1K", 1024.0),
        ("1k", 1000.0),
        ("2M", 2 * 1024.0**2),
        ("2m", 2e6),
        ("1.5G", 1.5 * 1024.0**3),
        ("3g", 3e9),
        ("1T", 1024.0**4),
        ("INFINITY", math.inf),
        ("infinity", math.inf),
    ],
)
def test_parse_memory(text: str, expected: float) -> None:
    assert parse_memory(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "abc", "1X", "-1G", "1GG", "G"])
def test_parse_memory_rejects(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_memory(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30", 30.0),
        ("1:30", 90.0),
        ("1:00:00", 3600.0),
        ("2:03:04", 2 * 3600 + 3 * 60 + 4),
        ("0:0:0", 0.0),
        ("::5", 5.0),
        ("INFINITY", math.inf),
        ("100:00:00", 360000.0),
    ],
)
def test_parse_time(text: str, expected: float) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["", "1:2:3:4", "a:b", "1h", "-5"])
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_time(text)


def test_parse_value_types() -> None:
    assert parse_value("INT", "4") == 4.0
    assert parse_value("INT", "2k") == 2000.0
    assert parse_value("DOUBLE", "0.25") == 0.25
    assert parse_value("BOOL", "TRUE") is True
    assert parse_value("BOOL", "0") is False
    assert parse_value("STRING", "lx-amd64") == "lx-amd64"
    for ctype, text in [("INT", "1.5"), ("BOOL", "maybe"), ("DOUBLE", "x"), ("NOPE", "1")]:
        with pytest.raises(InvalidRequest):
            parse_value(ctype, text)


def test_expressions() -> None:
    assert match_expression("lx-*", "lx-amd64")
    assert not match_expression("sol-*", "lx-amd64")
    assert match_expression("sol-*|lx-*", "lx-amd64")
    assert match_expression("!sol-*", "lx-amd64")
    assert not match_expression("!lx-*", "lx-amd64")
    assert match_expression("lx-*&!*86", "lx-amd64")
    assert not match_expression("lx-*&!*64", "lx-amd64")
    assert match_expression("(a|b)&!c", "b")
    assert not match_expression("(a|b)&!c", "c")
    assert match_expression("node[12]", "node2")
    assert not match_expression("node[12]", "node3")
    assert match_expression("node[!1]", "node3")  # '!' inside brackets stays a wildcard
    assert match_expression("NODE?", "node1", caseless=True)
    for bad in ["", "a|", "(a|b", "a)", "node[1", "!"]:
        with pytest.raises(InvalidRequest):
            match_expression(bad, "x")


def test_compare_numeric_relops() -> None:
    # request relop offered
    assert compare("MEMORY", "<=", "1G", "2G")
    assert not compare("MEMORY", "<=", "3G", "2G")
    assert compare("MEMORY", "<=", "1G", "INFINITY")
    assert compare("TIME", "<=", "0:30:00", "1:00:00")
    assert not compare("TIME", "<=", "2:00:00", "3600")
    assert compare("INT", "==", "4", "4")
    assert not compare("INT", "==", "4", "8")
    assert compare("MEMORY", ">=", "2G", "1G")
    assert compare("DOUBLE", "<", "1", "2") and not compare("DOUBLE", ">", "1", "2")
    assert compare("INT", "!=", "1", "2")
    assert compare("BOOL", "==", "true", "1")
    with pytest.raises(InvalidRequest):
        compare("MEMORY", "<=", "lots", "1G")


def test_compare_strings_and_case() -> None:
    assert compare("STRING", "==", "lx-*", "lx-amd64")
    assert not compare("STRING", "==", "LX-*", "lx-amd64")
    assert compare("CSTRING", "==", "LX-*", "lx-amd64")
    assert compare("HOST", "==", "Node1", "node1")
    assert compare("HOST", "==", "node1|node2", "NODE2")
    assert compare("STRING", "!=", "a", "b")
    assert not compare("STRING", "!=", "a*", "abc")


def test_default_complexes_table() -> None:
    assert len(DEFAULT_COMPLEXES) == 52
    slots = DEFAULT_COMPLEXES["slots"]
    assert (slots.type, slots.consumable, slots.default, slots.urgency) == ("INT", "YES", "1", 1000)
    assert not DEFAULT_COMPLEXES["load_avg"].requestable
    assert DEFAULT_COMPLEXES["h_rt"].type == "TIME"
    index = complex_index(DEFAULT_COMPLEXES)
    assert index["h"].name == "hostname"
    assert index["mf"].name == "mem_free"
    assert index["s"].name == "slots"


def test_parse_complex_table_custom() -> None:
    table = parse_complex_table("#c\ngpu  gpu  INT  <=  YES  JOB  0  0\nlic l INT <= FORCED YES 1 0\n")
    assert table["gpu"].consumable == "JOB"
    assert table["lic"].requestable and table["lic"].default == "1"
