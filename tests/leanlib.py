"""The lean shepherd (``qsys-shepherd``, execd/shepherd_lean.c) built for the tests, as
``make install`` builds it: statically with musl-gcc when it is there, else with gcc."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "execd" / "shepherd_lean.c"


def compile_command(out: Path) -> list[str]:
    if shutil.which("musl-gcc"):
        return ["musl-gcc", "-static", "-O2", "-Wall", "-o", str(out), str(SOURCE)]
    return ["gcc", "-O2", "-Wall", "-o", str(out), str(SOURCE), "-lm"]


def build() -> Path | None:
    """The binary of the current source (built once per source version; None without a compiler)."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    out = Path(tempfile.gettempdir()) / f"qsys-shepherd-{digest}" / "qsys-shepherd"
    if os.access(out, os.X_OK):
        return out
    out.parent.mkdir(mode=0o755, exist_ok=True)
    partial = out.with_name(f".build.{os.getpid()}")
    try:
        subprocess.run(compile_command(partial), check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    os.chmod(partial, 0o755)
    os.replace(partial, out)  # a concurrent build of the same source wins or loses whole
    return out
