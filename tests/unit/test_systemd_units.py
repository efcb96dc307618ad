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
MODULES = {"qsys-master": "qsys.master.main", "qsys-execd": "execd.main", "qsys-restd": "qsys.restd",
           "qsys-authd": "qsys.authd"}


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


@pytest.mark.parametrize("unit", sorted(p.name for p in UNITS.glob("*.service")))
def test_the_unit_qsys_init_and_join_write_verifies(unit: str, tmp_path: Path) -> None:
    """What ``qsys init``/``qsys join`` install: this installation's paths, the cell's root."""
    from qsys import install
    from qsys.paths import Cell

    text = install.unit_text(unit, Cell(tmp_path / "root", "cellx"))
    assert f"Environment=QSYS_ROOT={tmp_path / 'root'}" in text and "Environment=QSYS_CELL=cellx" in text
    assert install.TEMPLATE_BIN not in text or Path(install.TEMPLATE_BIN) == install.bin_dir()
    (tmp_path / unit).write_text(text)
    proc = subprocess.run([shutil.which("systemd-analyze") or "systemd-analyze", "verify", str(tmp_path / unit)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
