"""The option engine every q-command parses with, Grid Engine's name rules, and input of any size.

Property tests (hypothesis, bounded) check the engine against what it must agree with: its
word splitter against ``shlex.split`` (which it replaces because shlex is quadratic), and
``scan`` against the command lines built from random option sets. Large inputs are checked
by their result, not by a stopwatch.
"""

from __future__ import annotations

import io
import shlex
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qsys.cli import interactive, qacct, qalter, qconf, qdel, qhold, qhost, qmod, qselect, qstat
from qsys.cli.engine import HELP, Option, OptionTable, scan, split_words
from qsys.cli.options import SUBMIT_OPTIONS, directive_args, parse_submit_args
from qsys.errors import QsysError, UsageError
from qsys.grammar.names import job_name_problem
from qsys.grammar.requests import parse_resource_list
from qsys.jobspec import JobSpec

TABLES = [SUBMIT_OPTIONS, interactive.QRSH_OPTIONS, interactive.QLOGIN_OPTIONS, qalter.ALTER_OPTIONS,
          qacct.QACCT_OPTIONS, qconf.QCONF_OPTIONS, qdel.QDEL_OPTIONS, qhold.TABLES["qhold"],
          qhold.TABLES["qrls"], qhost.QHOST_OPTIONS, qmod.QMOD_OPTIONS, qselect.QSELECT_OPTIONS,
          qstat.QSTAT_OPTIONS]


def _record(state: list[tuple[str, list[str]]], name: str, values: list[str]) -> None:
    state.append((name, values))


TOY = OptionTable("toy", [
    HELP,
    Option("-f", "a flag", _record),
    Option("-n name", "one argument", _record),
    Option("-pe pe_name slot_range", "two arguments", _record),
    Option("-j [job_list]", "an optional argument", _record),
    Option("-A file [host]", "one required, one optional", _record),
    Option("-d|-dd queue_list", "greedy, two names", _record, greedy=True),
    Option("-hidden", None, _record),
], "[command [args]]")


# --------------------------------------------------------------------------- the table


def test_synopsis_gives_the_argument_counts() -> None:
    assert (TOY["-f"].required, TOY["-f"].optional) == (0, 0)
    assert (TOY["-pe"].required, TOY["-pe"].optional) == (2, 0)
    assert (TOY["-j"].required, TOY["-j"].optional) == (0, 1)
    assert (TOY["-A"].required, TOY["-A"].optional) == (1, 1)
    assert TOY["-d"] is TOY["-dd"]
    with pytest.raises(ValueError, match="optional arguments must come last"):
        Option("-x [a] b", "wrong", _record)


def test_scan_takes_what_each_row_says() -> None:
    argv = ["-f", "-n", "-dash", "-j", "-pe", "smp", "2", "-A", "file", "-j", "7", "-A", "f", "h",
            "-dd", "q1", "q2", "-f", "cmd", "-f"]
    actions, rest = scan(argv, TOY)
    assert [(a.name, a.values) for a in actions] == [
        ("-f", []), ("-n", ["-dash"]), ("-j", []), ("-pe", ["smp", "2"]), ("-A", ["file"]),
        ("-j", ["7"]), ("-A", ["f", "h"]), ("-dd", ["q1", "q2"]), ("-f", [])]
    assert rest == ["cmd", "-f"]


@pytest.mark.parametrize(("argv", "message"), [
    (["-x"], 'toy: invalid option argument "-x"'),
    (["-"], 'toy: invalid option argument "-"'),
    (["-n"], "toy: -n option must have argument"),
    (["-pe", "smp"], "toy: -pe option must have argument"),
    (["-d", "-f"], "toy: -d option must have argument"),
])
def test_scan_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        scan(argv, TOY)
    assert info.value.message == message and info.value.exit_code == 2


def test_commands_without_operands_refuse_words_and_interleaved_ones_collect_them() -> None:
    with pytest.raises(UsageError, match='^qstat: invalid option argument "all.q"$'):
        qstat.parse_args(["-f", "all.q"])
    targets = qdel.parse_targets(["1,2", "-u", "bob", "3.1-2", "-f"], qdel.QDEL_OPTIONS)
    assert targets.jobs == ["1", "2", "3.1-2"] and targets.users == ["bob"] and targets.flags == {"-f": ""}
    with pytest.raises(UsageError, match="^qrls: no job id given\nusage: qrls"):
        qdel.parse_targets([], qhold.TABLES["qrls"])


def test_usage_errors_carry_the_help_where_grid_engine_prints_it() -> None:
    with pytest.raises(UsageError) as info:
        qacct.parse_args(["-bogus"])
    assert info.value.message == 'qacct: invalid option argument "-bogus"\n' + qacct.QACCT_OPTIONS.usage().rstrip()
    with pytest.raises(UsageError) as info:
        qstat.parse_args(["-bogus"])
    assert info.value.message == 'qstat: invalid option argument "-bogus"'


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.program)
def test_help_is_made_from_the_rows(table: OptionTable, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        scan(["--help"], table)
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert text == table.usage()
    lines = text.splitlines()
    assert lines[0].startswith(f"usage: {table.program} [options]")
    listed = [row for row in table.rows if row.help is not None]
    assert lines[1:] == [row.help_line() for row in listed]
    for row in listed:  # every line names its option, its arguments and its help
        assert f"[{row.synopsis}]" in text and row.help in text
    assert len(listed) == len({row.name for row in listed})


def test_help_lists_hidden_rows_nowhere_but_accepts_them() -> None:
    assert "-hidden" not in TOY.usage() and TOY.get("-hidden") is not None
    assert "-hidden" not in TOY.listed() and "-d" in TOY.listed() and "-dd" in TOY.listed()


def test_help_order_is_grid_engines() -> None:
    names = [row.name for row in SUBMIT_OPTIONS.rows]
    assert names.index("-a") < names.index("-A") < names.index("-ac") < names.index("-b")
    assert names[-1] == "-@"
    assert [row.name for row in qstat.QSTAT_OPTIONS.rows][-2:] == ["--csv", "--json"]


def test_derived_tables_drop_replace_and_add() -> None:
    assert "-t" in SUBMIT_OPTIONS and "-t" not in interactive.QRSH_OPTIONS
    assert "-noshell" in interactive.QRSH_OPTIONS and "-noshell" not in interactive.QLOGIN_OPTIONS
    assert qalter.ALTER_OPTIONS["-h"].synopsis == "-h hold_list" and SUBMIT_OPTIONS["-h"].synopsis == "-h"
    assert interactive.QRSH_OPTIONS.usage().startswith("usage: qrsh [options] [command [command_args]]\n")
    with pytest.raises(UsageError, match='^qlogin: invalid option argument "cmd"$'):
        scan(["cmd"], interactive.QLOGIN_OPTIONS)


def test_qmod_and_qconf_forms() -> None:
    assert qmod.parse_args(["-c", "3", "4,5", "-cj", "6"]).operations == [("clear", None, ["3", "4", "5"]),
                                                                 ("clear", True, ["6"])]
    request = qconf._parse(["-Aconf", "f", "-Aconf", "g", "node1", "-sq", "-sconf", "-json"])
    assert [(o, a) for o, _, a in request.operations] == [("-Aconf", ["f"]), ("-Aconf", ["g", "node1"]),
                                                          ("-sq", []), ("-sconf", [])]
    assert request.form == "json"
    assert qhost.parse_args(["-F", "-q"])["wanted"] == [] and qhost.parse_args(["-F", "a,b"])["wanted"] == ["a", "b"]


# --------------------------------------------------------------------------- words


WORD_CHARS = st.sampled_from(list("ab-=,#'\" \t\n\\"))


@settings(max_examples=400, deadline=None)
@given(st.text(WORD_CHARS, max_size=30))
def test_split_words_agrees_with_shlex(text: str) -> None:
    try:
        expected: list[str] | None = shlex.split(text, comments=True)
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(UsageError, match="cannot parse"):
            split_words(text, "qsub", "test")
    else:
        assert split_words(text, "qsub", "test") == expected


def test_split_words_handles_megabyte_words() -> None:
    big = "x" * (1 << 20)
    assert split_words(f"-N {big} -l 'a=1, b'", "qsub", "t") == ["-N", big, "-l", "a=1, b"]
    quoted = "'" + "y " * 200_000 + "'"
    assert split_words(f'-v "{big}" {quoted}', "qsub", "t") == ["-v", big, "y " * 200_000]


# --------------------------------------------------------------------------- scan(apply) round trip

# options with a value and a spec field, and how to make a valid value of each
VALUES = {
    "-N": st.from_regex(r"[a-z][a-z0-9_.]{0,20}", fullmatch=True),
    "-A": st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True),
    "-p": st.integers(-1023, 1024).map(str),
    "-j": st.sampled_from(["y", "n", "yes", "no"]),
    "-l": st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True),
                          st.from_regex(r"[A-Za-z0-9.*|!]{1,8}", fullmatch=True), min_size=1, max_size=4)
            .map(lambda d: ",".join(f"{k}={v}" for k, v in d.items())),
    "-q": st.lists(st.from_regex(r"[a-z]{1,5}\.q(@[a-z0-9]{1,5})?", fullmatch=True), min_size=1, max_size=3)
            .map(",".join),
    "-t": st.tuples(st.integers(1, 50), st.integers(0, 50), st.integers(1, 5))
            .map(lambda t: f"{t[0]}-{t[0] + t[1]}:{t[2]}"),
    "-pe": st.tuples(st.from_regex(r"[a-z]{1,5}", fullmatch=True), st.integers(1, 64)),
}
FLAGS = ["-h", "-notify", "-cwd", "-V", "-soft", "-hard"]


@st.composite
def option_sets(draw: st.DrawFn) -> list[list[str]]:
    chosen = draw(st.lists(st.sampled_from([*VALUES, *FLAGS]), max_size=12))
    argv: list[list[str]] = []
    for name in chosen:
        if name in FLAGS:
            argv.append([name])
        elif name == "-pe":
            pe, slots = draw(VALUES["-pe"])
            argv.append([name, pe, str(slots)])
        else:
            argv.append([name, draw(VALUES[name])])
    return argv


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(option_sets())
def test_scan_round_trips_random_option_sets(groups: list[list[str]]) -> None:
    argv = [word for group in groups for word in group]
    actions, rest = scan([*argv, "/bin/true", "-x"], SUBMIT_OPTIONS)
    assert [[a.name, *a.values] for a in actions] == groups and rest == ["/bin/true", "-x"]
    line = "#$ " + " ".join(shlex.quote(word) for word in argv) + "\n"
    assert directive_args(line.encode(), "#$") == argv
    spec = parse_submit_args(["-b", "y", *argv, "/bin/true"], environ={}, cwd="/", request_files=[])
    last = {group[0]: group[1:] for group in groups}
    if "-N" in last:
        assert spec.name == last["-N"][0]
    if "-p" in last:
        assert spec.priority == int(last["-p"][0])
    if "-pe" in last:
        assert (spec.pe.name, spec.pe.min_slots) == (last["-pe"][0], int(last["-pe"][1]))  # type: ignore[union-attr]
    requested: dict[str, str] = {}
    soft: dict[str, str] = {}
    target = requested
    for group in groups:
        if group[0] in ("-soft", "-hard"):
            target = soft if group[0] == "-soft" else requested
        elif group[0] == "-l":
            target.update(parse_resource_list(group[1]))
    assert spec.hard_resources == requested and spec.soft_resources == soft


# --------------------------------------------------------------------------- big input, by result


def test_megabyte_directive_line_is_parsed(tmp_path: Path) -> None:
    resources = ",".join(f"r{i}=v{i}" for i in range(80_000))  # ~ 1 MB
    script = f"#!/bin/sh\n#$ -l {resources} -N big\necho\n".encode()
    spec = parse_submit_args([], environ={}, cwd=str(tmp_path), stdin=io.BytesIO(script), request_files=[])
    assert spec.name == "big" and len(spec.hard_resources) == 80_000 and spec.hard_resources["r79999"] == "v79999"


def test_megabyte_job_name_is_refused_with_grid_engines_message(tmp_path: Path) -> None:
    script = ("#$ -N " + "n" * (1 << 20) + "\n").encode()
    with pytest.raises(QsysError) as info:
        parse_submit_args([], environ={}, cwd=str(tmp_path), stdin=io.BytesIO(script), request_files=[])
    assert info.value.message == ("Unable to run job: job name too long, maximum allowed length is 512 "
                                  "characters\nExiting.") and info.value.exit_code == 1


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(("name", "problem"), [
    ("x" * 511, None),
    ("x" * 512, "job name too long, maximum allowed length is 512 characters"),
    ("x" * 120_000, "job name too long, maximum allowed length is 512 characters"),
    ("1abc", 'denied: "1abc" is not a valid object name (cannot start with a digit)'),
    ("a:b@c", "Colon (':') not allowed in objectname"),
    ("a@b", "At ('@') not allowed in objectname"),
    ("a\\b", "Backslash ('\\') not allowed in objectname"),
    ("a*b", "Asterisk ('*') not allowed in objectname"),
    ("a?b", "Questionmark ('?') not allowed in objectname"),
    ("a\tb", "Tab not allowed in objectname"),
    ("a\nb", "Return not allowed in objectname"),
    ("a\rb", "Carriage return not allowed in objectname"),
    ("none", 'Keyword ("NONE") not allowed as objectname'),
    ("Template", 'Keyword ("TEMPLATE") not allowed as objectname'),
    ("a b", "Space (' ') not allowed in objectname"),
    ("evil\u202etxt.sh", "Character U+202E not allowed in objectname"),
    ("\ufeffjob", "Character U+FEFF not allowed in objectname"),
    ("caf\u00e9", "Character U+00E9 not allowed in objectname"),
    ("a\udcffb", "Character byte 0xFF not allowed in objectname"),
    ("", "job rejected cause there is no job_name in the request"),
    (".dot#hash,a=b|c%d(e[f{g'h\"i", None),
])
def test_job_name_rules_and_messages_of_sge(name: str, problem: str | None) -> None:
    assert job_name_problem(name) == problem


def test_submit_refuses_names_as_grid_engine_does(tmp_path: Path) -> None:
    def submit(*argv: str) -> JobSpec:
        return parse_submit_args(["-b", "y", *argv], environ={}, cwd=str(tmp_path), request_files=[])

    with pytest.raises(UsageError) as usage:
        submit("-N", "a/b", "/bin/true")
    assert usage.value.message == "qsub: argument to -N option must not contain / "
    with pytest.raises(QsysError) as info:
        submit("-N", "1 2", "/bin/true")
    assert info.value.message == ('Unable to run job: denied: "1 2" is not a valid object name '
                                  "(cannot start with a digit)\nExiting.") and info.value.exit_code == 1
    (tmp_path / "9job.sh").write_text("echo\n")
    with pytest.raises(QsysError, match='"9job.sh" is not a valid object name'):
        parse_submit_args(["9job.sh"], environ={}, cwd=str(tmp_path), request_files=[])
    with pytest.raises(QsysError, match=r"^Unable to run job: Colon \(':'\) not allowed in objectname\nExiting.$"):
        submit("-A", "a:b", "/bin/true")
    assert submit("-N", "x" * 511, "/bin/true").name == "x" * 511


def test_qrsh_and_qalter_give_the_reason_alone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("QSYS_ROOT", str(tmp_path / "root"))
    with pytest.raises(QsysError) as info:
        interactive.parse(["-N", "a\u202eb", "hostname"], "qrsh")
    assert info.value.message == "Character U+202E not allowed in objectname"
    with pytest.raises(QsysError) as info:
        qalter.parse_args(["-N", "TEMPLATE", "7"])
    assert info.value.message == 'Keyword ("TEMPLATE") not allowed as objectname'
    assert interactive.parse(["hostname"], "qrsh")[0].name == "hostname"

