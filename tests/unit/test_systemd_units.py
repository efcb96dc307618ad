"""The systemd units in conf/systemd pass ``systemd-analyze verify`` (with the command
rewritten to ``python -m`` where the console script is not installed yet)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "conf" / "systemd"
MODULES = {"qsys-master": "qsys.master.main", "qsys-execd": "execd.main", "qsys-restd": "qsys.restd"}


@pytest.mark.parametrize("unit", sorted(p.name for p in UNITS.glob("*.service")))
def test_unit_verifies(unit: str) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is needed (package systemd)"
    text = (UNITS / unit).read_text()
    for script, module in MODULES.items():
        installed = Path("/opt/qsys/venv/bin") / script
        if not installed.exists():
            text = text.replace(str(installed), f"{sys.executable} -m {module}")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / unit).write_text(text)
        proc = subprocess.run([analyze, "verify", str(Path(tmp) / unit)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
