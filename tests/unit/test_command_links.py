"""Every command qsys ships is linked where its users look for it (/usr/local/bin), and the
links point at qsys's own, never past them to Debian's Grid Engine in /usr/bin."""

from __future__ import annotations

import tomllib
from pathlib import Path

from qsys.paths import DAEMON_COMMANDS, USER_COMMANDS, link_commands

REPO = Path(__file__).resolve().parents[2]


def test_every_shipped_command_is_linked() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert sorted(USER_COMMANDS + DAEMON_COMMANDS) == sorted(scripts)


def test_links_replace_other_links_and_leave_files(tmp_path: Path) -> None:
    source, target = tmp_path / "venv-bin", tmp_path / "bin"
    source.mkdir()
    target.mkdir()
    for name in ("qquota", "qrsub", "qstat"):
        (source / name).write_text("#!/bin/sh\n")
    (target / "qrsub").symlink_to("/usr/bin/qrsub")  # a link elsewhere is replaced
    (target / "qstat").write_text("mine\n")  # a file is left, and named
    kept = link_commands(source, target, ("qquota", "qrsub", "qstat", "qrdel"))
    assert kept == [str(target / "qstat")]
    assert (target / "qquota").resolve() == (source / "qquota").resolve()
    assert (target / "qrsub").resolve() == (source / "qrsub").resolve()
    assert (target / "qstat").read_text() == "mine\n" and not (target / "qrdel").exists()
