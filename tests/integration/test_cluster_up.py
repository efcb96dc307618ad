"""`qsys up` on an existing cell: it keeps its configuration, starts what does not run and
says so; a zombie or a stranger in a pid file is not taken for a running daemon."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from qsys.cluster import EXECD, MASTER, running_daemons
from qsys.paths import Cell
from tests.clusterlib import REPO, wait_until


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QSYS_", "SGE_"))}
    return {**env, "QSYS_ROOT": str(root), "PYTHONPATH": str(REPO)}


def _qsys(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qsys.cluster", *argv], env=_env(root), capture_output=True,
                          text=True, timeout=90, cwd="/tmp")


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2:].split()[0]


def test_up_again_keeps_the_cell_and_starts_only_what_is_missing(qsys_root: Path) -> None:
    cell = Cell(qsys_root, "default")
    first = _qsys(qsys_root, "up", "--hosts", "2", "--slots", "1")
    try:
        assert first.returncode == 0, first.stdout + first.stderr
        assert "started master" in first.stdout and "started execd node2" in first.stdout
        bootstrap = cell.bootstrap_file.read_text()
        daemons = running_daemons(cell)
        assert sorted(daemons) == ["master", "node1", "node2"]

        again = _qsys(qsys_root, "up")
        assert again.returncode == 0, again.stdout + again.stderr
        for name in ("master", "execd node1", "execd node2"):
            assert f"{name} already running (pid {daemons[name.split()[-1]]})" in again.stdout
        assert "started" not in again.stdout
        assert cell.bootstrap_file.read_text() == bootstrap
        assert running_daemons(cell) == daemons, "no daemon started or lost"

        os.kill(daemons["node2"], signal.SIGTERM)
        wait_until(lambda: "node2" not in running_daemons(cell), 20, "exec daemon node2 to stop")
        third = _qsys(qsys_root, "up")
        assert third.returncode == 0, third.stdout + third.stderr
        assert "execd node1 already running" in third.stdout and "started execd node2" in third.stdout
        assert sorted(running_daemons(cell)) == ["master", "node1", "node2"]

        refused = _qsys(qsys_root, "up", "--hosts", "3")
        assert refused.returncode == 1
        assert "--hosts 3: the cell has 2 exec host(s) (node1,node2)" in refused.stderr
        assert _qsys(qsys_root, "up", "--hosts", "2", "--slots", "1").returncode == 0, "the same options are fine"
        assert cell.bootstrap_file.read_text() == bootstrap

        # an exec daemon someone started by hand in this cell is shown, and stopped by `down`
        subprocess.run([sys.executable, "-m", "execd.main", "--host", "stray"], env=_env(qsys_root), check=True)
        wait_until(lambda: "stray" in running_daemons(cell), 20, "the stray exec daemon")
        status = _qsys(qsys_root, "status").stdout
        assert "execd     node1: running" in status and "execd     node2: running" in status
        assert "execd     stray: running" in status and "not in the cell's exec_hosts" in status
    finally:
        down = _qsys(qsys_root, "down", "--kill-jobs")
    assert down.returncode == 0, down.stderr
    assert "stopped stray" in down.stdout
    assert running_daemons(cell) == {}


def test_up_after_kill_9_does_not_take_the_zombie_master_for_a_live_one(qsys_root: Path) -> None:
    cell = Cell(qsys_root, "default")
    first = _qsys(qsys_root, "up")
    assert first.returncode == 0, first.stdout + first.stderr
    assert _qsys(qsys_root, "down").returncode == 0
    # a master whose parent is this test: killed, it stays a zombie until we reap it
    master = subprocess.Popen([sys.executable, "-m", "qsys.master.main", "--foreground"], env=_env(qsys_root),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: running_daemons(cell).get("master") == master.pid, 20, "the master to run")
        master.send_signal(signal.SIGKILL)
        wait_until(lambda: _state(master.pid) == "Z", 20, "the master to be a zombie")
        assert (cell.master_spool / MASTER.pid_file).read_text().split()[0] == str(master.pid)
        up = _qsys(qsys_root, "up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "started master" in up.stdout
        assert running_daemons(cell)["master"] != master.pid
        assert _state(master.pid) == "Z", "the test still holds the zombie"
    finally:
        master.wait()
        _qsys(qsys_root, "down", "--kill-jobs")
    assert running_daemons(cell) == {}


def test_a_pid_file_naming_another_program_is_not_a_daemon(qsys_root: Path) -> None:
    cell = Cell(qsys_root, "default")
    stranger = subprocess.Popen(["sleep", "120"])
    try:
        up = _qsys(qsys_root, "up")
        assert up.returncode == 0, up.stdout + up.stderr
        host = next(name for name in running_daemons(cell) if name != "master")
        _qsys(qsys_root, "down")
        (cell.master_spool / MASTER.pid_file).write_text(f"{stranger.pid}\n")
        (cell.execd_spool(host) / EXECD.pid_file).write_text(f"{stranger.pid}\n")
        assert running_daemons(cell) == {}
        again = _qsys(qsys_root, "up")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "started master" in again.stdout and f"started execd {host}" in again.stdout
        down = _qsys(qsys_root, "down")
        assert down.returncode == 0 and stranger.poll() is None, "down never signals a stranger"
    finally:
        stranger.kill()
        stranger.wait()
        _qsys(qsys_root, "down", "--kill-jobs")
