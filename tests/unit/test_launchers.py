"""The q-command launchers (``qsys.launchers``): a launcher runs its command in an interpreter
without the site module, finds qsys and its requirements where they were found when it was
written, and passes the arguments and the exit status through."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from qsys import launchers
from tests.clusterlib import REPO

PROBE = '''
import json, sys

def main():
    print(json.dumps({"argv": sys.argv[1:], "no_site": sys.flags.no_site, "site": "site" in sys.modules,
                      "path": sys.path}))
    return int(sys.argv[1]) if sys.argv[1:] and sys.argv[1].isdigit() else 0
'''


def _run(launcher: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(launcher), *args], capture_output=True, text=True, timeout=60,
                          env=env if env is not None else {"PATH": "/usr/bin:/bin"}, cwd="/")


def test_a_launcher_runs_its_entry_point_without_site_and_passes_argv_and_status(tmp_path: Path) -> None:
    import json

    lib = tmp_path / "lib"
    (lib / "probe_pkg").mkdir(parents=True)
    (lib / "probe_pkg" / "__init__.py").write_text("")
    (lib / "probe_pkg" / "cmd.py").write_text(PROBE)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    written = launchers.write_launchers(bin_dir, {"qprobe": "probe_pkg.cmd:main"}, sys.executable, [str(lib)])
    assert written == ["qprobe"]
    proc = _run(bin_dir / "qprobe", "3", "a b", "-x")
    assert proc.returncode == 3, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["argv"] == ["3", "a b", "-x"]
    assert seen["no_site"] == 1 and seen["site"] is False
    assert seen["path"][-1] == str(lib)
    assert str(bin_dir) not in seen["path"]  # its own directory is no place to import from
    assert not list(bin_dir.glob(".*"))  # nothing half-written left


def test_pythonpath_still_comes_first(tmp_path: Path) -> None:
    import json

    for name, status in (("installed", 1), ("tree", 2)):
        (tmp_path / name / "probe_pkg").mkdir(parents=True)
        (tmp_path / name / "probe_pkg" / "__init__.py").write_text("")
        (tmp_path / name / "probe_pkg" / "cmd.py").write_text(PROBE + f"\nWHERE = {status}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launchers.write_launchers(bin_dir, {"qprobe": "probe_pkg.cmd:main"}, sys.executable, [str(tmp_path / "installed")])
    proc = _run(bin_dir / "qprobe", env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "tree")})
    assert proc.returncode == 0, proc.stderr
    path = json.loads(proc.stdout)["path"]
    assert path.index(str(tmp_path / "tree")) < path.index(str(tmp_path / "installed"))


def test_a_qsub_launcher_finds_qsys_on_its_path_alone(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launchers.write_launchers(bin_dir, {"qsub": "qsys.cli.qsub:main"}, sys.executable,
                              [str(REPO), *launchers.search_path()[1:]])
    proc = _run(bin_dir / "qsub", "-help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: qsub"), proc.stdout[:200]
    proc = _run(bin_dir / "qsub", "-no-such-option")
    assert proc.returncode != 0 and "-no-such-option" in proc.stderr


def test_the_launchers_are_for_the_q_commands_only() -> None:
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    wanted = {name for name, point in scripts.items() if point.startswith(launchers.COMMANDS_PACKAGE)}
    assert {"qsub", "qstat", "qdel", "qrls", "qconf"} <= wanted
    assert not wanted & {"qsys", "qsys-master", "qsys-execd"}


def test_an_interpreter_path_a_shebang_cannot_hold_keeps_pips_scripts(tmp_path: Path) -> None:
    assert launchers.write_launchers(tmp_path, {"qsub": "qsys.cli.qsub:main"}, "/opt/my venv/bin/python", []) == []
    assert launchers.write_launchers(tmp_path, {"qsub": "qsys.cli.qsub:main"}, "/" + "p" * 130, []) == []
    assert list(tmp_path.iterdir()) == []


def test_requirement_names() -> None:
    assert [launchers.requirement_name(r) for r in ("msgpack>=1.0", "SQLAlchemy>=2.0", "qsys[rest]", "lark")] == [
        "msgpack", "SQLAlchemy", "qsys", "lark"]
