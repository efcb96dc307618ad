"""The manual pages in man/ render cleanly and cover what the package installs.

Pages are rendered with groff (warnings on, output discarded) and with ``man -l``; any
warning fails the test, so a broken macro or an unescaped line start is caught before a user
sees a garbled page. The field list of accounting(5) and the keys of qsys_conf(5) are checked
against the code that writes them, so the pages cannot drift silently.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import tempfile
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAN = REPO / "man"

# The pages this part of the project owns; more pages (qconf, qacct, queue_conf, ...) may join.
REQUIRED = {
    "man1": ["qsub", "qstat", "qdel", "qhold", "qrls", "qhost", "qsys", "qrsh", "qlogin", "qacct"],
    "man5": ["qsys_conf", "accounting", "remote_startup", "sched_conf", "sge_request", "access_list", "hostgroup",
             "bootstrap"],
    "man8": ["qsys-master", "qsys-shadowd", "qsys-execd", "qsys-sshd", "qsys-restd", "qsys-authd", "qsys"],
}
DAEMONS = {"qsys-master", "qsys-shadowd", "qsys-execd", "qsys-sshd", "qsys-restd", "qsys-authd"}
COMMAND_SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "FILES",
                    "EXIT STATUS", "EXAMPLES", "SEE ALSO"]


def all_pages() -> list[Path]:
    return sorted(p for p in MAN.glob("man[1-8]/*") if re.fullmatch(r".+\.[1-8]", p.name))


def page_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def sections(path: Path) -> list[str]:
    """Top-level section names (``.SH``) in source order, quotes removed."""
    names = []
    for line in path.read_text().splitlines():
        if line.startswith(".SH "):
            names.append(line[4:].strip().strip('"'))
    return names


def console_scripts() -> list[str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    return sorted(data["project"]["scripts"])


def render_env() -> dict[str, str]:
    env = dict(os.environ, MANWIDTH="80", LANG="C.UTF-8", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    env.pop("MANPAGER", None)
    env["PAGER"] = "cat"
    return env


def test_required_pages_exist() -> None:
    missing = [f"{sec}/{name}.{sec[-1]}" for sec, names in REQUIRED.items() for name in names
               if not (MAN / sec / f"{name}.{sec[-1]}").is_file()]
    assert missing == []


def test_every_console_script_has_a_page() -> None:
    scripts = console_scripts()
    assert scripts, "pyproject.toml lists no console scripts"
    missing = []
    for name in scripts:
        page = MAN / ("man8" if name in DAEMONS else "man1") / (f"{name}.8" if name in DAEMONS else f"{name}.1")
        if not page.is_file():
            missing.append(str(page.relative_to(REPO)))
    assert missing == []


@pytest.mark.parametrize("page", all_pages(), ids=page_id)
def test_groff_renders_without_warnings(page: Path) -> None:
    proc = subprocess.run(["groff", "-man", "-ww", "-z", str(page)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


@pytest.mark.parametrize("page", all_pages(), ids=page_id)
def test_man_renders_page(page: Path) -> None:
    proc = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True, text=True,
                          env=render_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    text = proc.stdout
    name = page.stem
    # the header names the page, and the NAME section starts with the page's name
    assert f"{name.upper()}({page.suffix[1:]})" in text.splitlines()[0]
    assert re.search(rf"^NAME\n\s+{re.escape(name)}\s+-\s+\S", text, re.M), text[:400]
    # no raw roff leaked into the output
    leaked = [line for line in text.splitlines() if re.match(r"\s*\.[A-Za-z]{1,2}(\s|$)", line)]
    assert leaked == []


@pytest.mark.parametrize("page", sorted((MAN / "man1").glob("*.1")), ids=page_id)
def test_command_page_has_all_sections(page: Path) -> None:
    found = sections(page)
    assert [s for s in COMMAND_SECTIONS if s not in found] == []
    # the usual order: NAME and SYNOPSIS first, SEE ALSO last
    assert found[:2] == ["NAME", "SYNOPSIS"]
    assert found[-1] == "SEE ALSO"


@pytest.mark.parametrize("page", sorted((MAN / "man1").glob("*.1")), ids=page_id)
def test_command_page_names_the_cell_variables(page: Path) -> None:
    text = page.read_text()
    env = text.split(".SH ENVIRONMENT", 1)[1].split("\n.SH ", 1)[0]
    assert "QSYS_ROOT" in env and "QSYS_CELL" in env


def test_th_line_matches_file_name() -> None:
    for page in all_pages():
        first = page.read_text().splitlines()[0]
        assert first.startswith(".TH "), page
        title, section = first.split()[1:3]
        assert title.replace("\\-", "-") == page.stem.upper(), page
        assert section == page.suffix[1:], page


def test_accounting_page_lists_the_fields_in_file_order() -> None:
    from qsys.accounting_file import ACCOUNTING_FIELDS

    source = (MAN / "man5" / "accounting.5").read_text()
    fields = source.split(".SH FIELDS", 1)[1].split("\n.SH ", 1)[0]
    numbered = [(int(n), name) for n, name in re.findall(r"(?<![\w.\\])(\d{1,2}) ([a-z_]+)\b", fields)
                if 1 <= int(n) <= 45]
    assert numbered == list(enumerate(ACCOUNTING_FIELDS, start=1))


def test_qsys_conf_documents_every_global_key() -> None:
    from qsys.master.config import DEFAULT_GLOBAL

    tags = _tags((MAN / "man5" / "qsys_conf.5").read_text(), "KEYS")
    assert sorted(set(DEFAULT_GLOBAL) - tags) == []


def _tags(source: str, section: str) -> set[str]:
    """Names in the ``.B``/``.BR`` lines of one section of a page's source."""
    text = source.split(f".SH {section}", 1)[1].split("\n.SH ", 1)[0]
    tags: set[str] = set()
    for line in text.splitlines():
        if line.startswith((".B ", ".BR ")):
            tags.update(re.findall(r"[a-z][a-z_]*[a-z]", line.replace("\\-", "-")))
    return tags


def test_sched_conf_documents_every_attribute() -> None:
    from qsys.objects.sconf import SchedulerConfig

    names = {f.name for f in dataclasses.fields(SchedulerConfig)}
    assert sorted(names - _tags((MAN / "man5" / "sched_conf.5").read_text(), "ATTRIBUTES")) == []


def test_bootstrap_page_documents_every_key_qsys_up_writes() -> None:
    from qsys.cluster import new_cell
    from qsys.paths import Cell

    with tempfile.TemporaryDirectory() as root:
        cell = Cell(Path(root), "default")
        new_cell(cell, 2, 1, 0, None)
        keys = set(cell.bootstrap())
    documented = _tags((MAN / "man5" / "bootstrap.5").read_text(), "THE BOOTSTRAP FILE")
    assert keys and sorted(keys - documented) == []


def test_remote_startup_gives_the_exact_argument_conventions() -> None:
    proc = subprocess.run(["man", "-l", str(MAN / "man5" / "remote_startup.5")], capture_output=True,
                          text=True, env=render_env())
    text = re.sub(r"[ \t]+", " ", proc.stdout)
    assert re.search(r"qlogin_command\n\s*HOST PORT\b", text)
    assert re.search(r"rlogin_command\n\s*-p PORT HOST\b", text)
    assert re.search(r"rsh_command\n\s*-n -p PORT HOST command\b", text)


def _options_source(page: str) -> str:
    source = (MAN / "man1" / page).read_text()
    return source.split(".SH OPTIONS", 1)[1].split("\n.SH ", 1)[0]


def _documented(section: str, option: str) -> bool:
    return re.search(re.escape(option.replace("-", "\\-")) + r"(?![\w\\])", section) is not None


def _command_options(page: str) -> list[str]:
    """Every option the command's -help lists (read from its option table)."""
    from qsys.cli import (
        inherit,
        interactive,
        options,
        qacct,
        qalter,
        qconf,
        qdel,
        qhold,
        qhost,
        qmod,
        qselect,
        qstat,
    )

    tables = {
        "qacct.1": qacct.QACCT_OPTIONS, "qalter.1": qalter.ALTER_OPTIONS, "qconf.1": qconf.QCONF_OPTIONS,
        "qdel.1": qdel.QDEL_OPTIONS, "qhold.1": qhold.TABLES["qhold"], "qrls.1": qhold.TABLES["qrls"],
        "qhost.1": qhost.QHOST_OPTIONS, "qlogin.1": interactive.QLOGIN_OPTIONS, "qmod.1": qmod.QMOD_OPTIONS,
        "qrsh.1": interactive.QRSH_OPTIONS, "qselect.1": qselect.QSELECT_OPTIONS,
        "qstat.1": qstat.QSTAT_OPTIONS, "qsub.1": options.SUBMIT_OPTIONS,
    }
    names = tables[page].listed()
    if page == "qrsh.1":
        names += inherit.INHERIT_OPTIONS.listed()
    return names


@pytest.mark.parametrize("page", ["qacct.1", "qalter.1", "qconf.1", "qdel.1", "qhold.1", "qhost.1", "qlogin.1",
                                  "qmod.1", "qrls.1", "qrsh.1", "qselect.1", "qstat.1", "qsub.1"])
def test_page_documents_every_option_the_command_takes(page: str) -> None:
    section = _options_source(page)
    missing = [opt for opt in _command_options(page) if not _documented(section, opt)]
    assert missing == []
