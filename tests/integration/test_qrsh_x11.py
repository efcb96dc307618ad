"""X11 forwarding of the builtin method against a real X server (Xvfb) and a real X client."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import Cluster, wait_until

pytestmark = pytest.mark.skipif(not shutil.which("Xvfb") or not shutil.which("xdpyinfo"),
                                reason="needs xvfb and x11-utils")


@pytest.fixture
def xserver(qsys_root: Path) -> Iterator[dict[str, str]]:
    """An Xvfb that demands a cookie, and the environment of a client allowed to use it."""
    number = 90 + os.getpid() % 100
    auth = qsys_root / "xauth"
    cookie = secrets.token_hex(16)
    subprocess.run(["xauth", "-f", str(auth), "add", f":{number}", "MIT-MAGIC-COOKIE-1", cookie], check=True,
                   capture_output=True)
    proc = subprocess.Popen(["Xvfb", f":{number}", "-auth", str(auth), "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {"DISPLAY": f":{number}", "XAUTHORITY": str(auth)}
    try:
        wait_until(lambda: subprocess.run(["xdpyinfo"], env={**os.environ, **env}, capture_output=True).returncode == 0,
                   20, "Xvfb to answer")
        yield env
    finally:
        proc.terminate()
        proc.wait(10)


def test_x_program_of_the_session_reaches_the_local_display(cluster: Cluster, xserver: dict[str, str]) -> None:
    proc = cluster.run("qrsh", "-X", "echo $DISPLAY; xdpyinfo | grep -c 'screen #0'", env=xserver)
    assert proc.returncode == 0, proc.stderr
    display, screens = proc.stdout.split()
    assert display.startswith("localhost:") and screens == "1"


def test_session_display_wants_the_sessions_cookie(cluster: Cluster, xserver: dict[str, str]) -> None:
    proc = cluster.run("qrsh", "-X", "XAUTHORITY=/dev/null xdpyinfo >/dev/null 2>&1; echo $?", env=xserver)
    assert proc.stdout.strip() != "0"


def test_no_display_without_x(cluster: Cluster, xserver: dict[str, str]) -> None:
    proc = cluster.run("qrsh", "echo [$DISPLAY]", env=xserver)
    assert proc.stdout == "[]\n"
