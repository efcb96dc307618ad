"""Random input through the commands (hypothesis): qsub options, ``#$`` directives, qconf
files of every object kind. A command never fails with a traceback (``QSYS_DEBUG`` makes an
unforeseen exception fail the test) nor with the master's ``internal error``; a qconf text
the master refuses names the line and the reason and changes nothing."""

from __future__ import annotations

import io
import os
import string
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from qsys.cli import qsub
from qsys.cli.options import SUBMIT_OPTIONS
from qsys.client import Client
from qsys.errors import QsysError
from qsys.master.main import MasterDaemon
from qsys.objects import to_wire
from qsys.paths import Cell
from tests.inprocess import master_thread, new_test_cell

BLOCKING = {"-sync", "-help", "-@"}  # -sync y waits for a held job; -@ reads a file
OPTION_NAMES = sorted(n for row in SUBMIT_OPTIONS.rows for n in row.names if n not in BLOCKING)
KINDS = ["conf", "queue", "exechost", "hostgroup", "pe", "userset", "calendar", "complex", "sconf"]

words = st.one_of(
    st.sampled_from(OPTION_NAMES),
    st.sampled_from(["y", "n", "yes", "1", "0", "-1", "1-10:2", "a=b", "h_rt=1:0:0", "all.q", "smp 2", "@allhosts",
                     "*", "", " ", "\t", "=", ",", "::", "1" * 40, "x" * 300]),
    st.text(alphabet=string.printable, max_size=20),
    st.text(max_size=12),
)


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cell, MasterDaemon]]:
    root = Path(tmp_path_factory.mktemp("input"))
    cell = new_test_cell(root)
    saved = {k: os.environ.get(k) for k in ("QSYS_ROOT", "QSYS_CELL", "QSYS_DEBUG", "QSYS_MASTER")}
    os.environ.update(QSYS_ROOT=str(root), QSYS_CELL="default", QSYS_DEBUG="1")
    os.environ.pop("QSYS_MASTER", None)
    try:
        with master_thread(cell) as daemon:
            yield cell, daemon
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _qsub(argv: list[str], cwd: Path) -> tuple[int, str]:
    import sys

    err = io.StringIO()
    old, stdin = os.getcwd(), sys.stdin
    os.chdir(cwd)
    sys.stdin = io.TextIOWrapper(io.BytesIO(b"true\n"))  # a script on stdin when no file is named
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(err):
            code = qsub.main(argv)
    finally:
        os.chdir(old)
        sys.stdin = stdin
    return code, err.getvalue()


def _clean(code: int, stderr: str) -> None:
    assert isinstance(code, int) and "internal error" not in stderr and "Traceback" not in stderr, stderr


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tokens=st.lists(words, max_size=8))
def test_random_qsub_options(master: tuple[Cell, MasterDaemon], tmp_path: Path, tokens: list[str]) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\ntrue\n")
    code, err = _qsub(["-h", *tokens, str(script)], tmp_path)
    event(f"qsub exit {code}")
    _clean(code, err)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.lists(words, max_size=5).map(" ".join), max_size=6),
       prefix=st.sampled_from(["#$ ", "#$", "#$  "]), junk=st.binary(max_size=20))
def test_random_directives(master: tuple[Cell, MasterDaemon], tmp_path: Path, lines: list[str], prefix: str,
                           junk: bytes) -> None:
    script = tmp_path / "job.sh"
    body = "#!/bin/sh\n" + "".join(f"{prefix}{line}\n" for line in lines)
    script.write_bytes(body.encode() + b"#$ -N " + junk.replace(b"\n", b"") + b"\ntrue\n")
    code, err = _qsub(["-h", str(script)], tmp_path)
    event(f"directives exit {code}")
    _clean(code, err)


def _snapshot(daemon: MasterDaemon) -> dict[str, Any]:
    config = daemon.state.config
    out: dict[str, Any] = {}
    for kind in KINDS:
        if kind == "complex":
            out[kind] = to_wire(config.complex_list)
        elif kind == "conf":
            out[kind] = {name: to_wire(obj) for name, obj in config.local_conf.items()}
        else:
            try:
                out[kind] = {name: to_wire(obj) for name, obj in config.table(kind).items()}
            except (KeyError, AttributeError, QsysError):
                out[kind] = None
    return out


def _attribute_lines(kind: str) -> st.SearchStrategy[str]:
    from qsys.objects import kind_class
    from qsys.objects.base import specs

    names = [spec.name for spec in specs(kind_class(kind))] or ["name", "shortcut", "type"]
    line = st.tuples(st.sampled_from(names) | st.text(string.ascii_lowercase + "_", max_size=10),
                     st.lists(words, max_size=3).map(" ".join)).map(lambda p: f"{p[0]} {p[1]}")
    return st.lists(line | st.text(max_size=30), max_size=8).map("\n".join)


@st.composite
def conf_texts(draw: st.DrawFn) -> tuple[str, str, str]:
    kind = draw(st.sampled_from(KINDS))
    text = draw(_attribute_lines(kind) | st.text(max_size=200))
    op = draw(st.sampled_from(["add", "modify"]))
    return kind, op, text


@settings(max_examples=400, deadline=None)
@given(case=conf_texts())
def test_random_qconf_files(master: tuple[Cell, MasterDaemon], case: tuple[str, str, str]) -> None:
    cell, daemon = master
    kind, op, text = case
    before = _snapshot(daemon)
    try:
        with Client(cell) as client:
            reply = client.conf(op, kind, "", text)
        event(f"qconf {op}: accepted" if not reply.get("exit") else f"qconf {op}: refused in lines")
        accepted = not reply.get("exit")
    except QsysError as exc:
        assert exc.message and "internal error" not in exc.message, exc.message
        assert len(exc.message) < 1000
        event(f"qconf {op}: {type(exc).__name__}")
        accepted = False
    if not accepted:
        assert _snapshot(daemon) == before
