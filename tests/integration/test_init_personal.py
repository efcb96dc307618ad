"""``qsys init --personal``: the personal cell ``qsys up`` makes, with TLS on the master's TCP
port (commands on TCP verify the master against the cell CA; a plain-text client gets nothing)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.clusterlib import REPO


def _qsys(root: Path, *args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QSYS_ROOT": str(root), "PYTHONPATH": str(REPO), **(extra or {})}
    env.pop("QSYS_MASTER", None)
    return subprocess.run([sys.executable, "-m", *args], env=env, capture_output=True,
                          text=True, timeout=120, cwd="/tmp")


def test_a_personal_cell_of_qsys_init_speaks_tls(qsys_root: Path) -> None:
    made = _qsys(qsys_root, "qsys.cluster", "init", "--personal", "--no-start")
    assert made.returncode == 0 and f"wrote the personal cell {qsys_root}/default" in made.stdout, made.stderr
    boot = (qsys_root / "default" / "common" / "bootstrap").read_text()
    assert "mode                 personal" in boot and "tls                  yes" in boot
    assert (qsys_root / "default" / "common" / "ca.pem").exists()
    try:
        assert _qsys(qsys_root, "qsys.cluster", "up").returncode == 0
        port = int(next(line.split()[1] for line in
                        (qsys_root / "default" / "common" / "bootstrap").read_text().splitlines()
                        if line.startswith("master_port")))
        over_tcp = _qsys(qsys_root, "qsys.cli.qhost", extra={"QSYS_MASTER": f"127.0.0.1:{port}"})
        assert over_tcp.returncode == 0 and "HOSTNAME" in over_tcp.stdout, over_tcp.stderr
        with socket.create_connection(("127.0.0.1", port), timeout=20) as plain:
            plain.sendall(b"\x00\x00\x00\x05\x81\xa1t\xa1x")
            answer = plain.recv(64)
        assert answer == b"" or answer[0] == 0x15, answer  # closed, or a TLS alert: never a challenge
    finally:
        _qsys(qsys_root, "qsys.cluster", "down", "--kill-jobs")
