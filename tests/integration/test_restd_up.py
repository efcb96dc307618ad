"""`qsys up --rest` starts qsys-restd beside the personal cluster, `qsys status` shows it and
`qsys down` stops it; the sign-in address it prints works."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from qsys.cluster import RESTD, _alive, running_daemons
from qsys.paths import Cell
from tests.clusterlib import REPO


def _qsys(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QSYS_", "SGE_"))}
    env.update(QSYS_ROOT=str(root), PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "qsys.cluster", *argv], env=env, capture_output=True,
                          text=True, timeout=120, cwd="/tmp")


def test_up_rest_status_and_down(qsys_root: Path) -> None:
    cell = Cell(qsys_root, "default")
    up = _qsys(qsys_root, "up", "--rest")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "started restd (pid" in up.stdout
        login = next(line for line in up.stdout.splitlines() if line.startswith("dashboard "))
        link = urlsplit(login.rpartition(" ")[2].rstrip(")"))
        assert link.hostname == "127.0.0.1" and link.path == "/login" and link.query.startswith("token=qsys1.")
        boot = cell.bootstrap()
        assert (boot["restd_port"], boot["restd_bind"]) == ("0", "127.0.0.1")
        restd_pid = running_daemons(cell)["restd"]
        assert RESTD.pid_file == "restd.pid"

        conn = http.client.HTTPConnection(link.hostname, link.port, timeout=10)
        conn.request("GET", f"{link.path}?{link.query}")
        signed_in = conn.getresponse()
        assert signed_in.status == 303 and signed_in.getheader("location") == "/"
        cookie = signed_in.getheader("set-cookie")
        assert cookie.startswith("qsys_token=qsys1.") and "HttpOnly" in cookie and "SameSite=strict" in cookie
        conn.close()
        conn = http.client.HTTPConnection(link.hostname, link.port, timeout=10)
        conn.request("GET", "/api/v1/whoami", headers={"Cookie": cookie.split(";")[0]})
        assert b'"via":"token"' in conn.getresponse().read()
        conn.close()

        status = _qsys(qsys_root, "status")
        assert f"restd     running, pid {restd_pid} (http://127.0.0.1:{link.port}" in status.stdout

        again = _qsys(qsys_root, "up", "--rest")
        assert f"restd already running (pid {restd_pid})" in again.stdout, again.stdout + again.stderr
    finally:
        down = _qsys(qsys_root, "down")
    assert down.returncode == 0 and "stopped restd" in down.stdout, down.stdout + down.stderr
    assert not _alive(restd_pid) and running_daemons(cell) == {}
    assert not (cell.restd_spool / "restd.sock").exists()
