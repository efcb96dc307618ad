"""Test helpers for libdrmaa.so: the library built from this worktree, the environment a
DRMAA program of a test cluster runs with. Its fixtures are offered by
tests/integration/conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import REPO, Cluster


@pytest.fixture(scope="session")
def libdrmaa() -> Iterator[Path]:
    """libdrmaa.so built from this worktree, starting its helper with this interpreter."""
    build = Path(tempfile.mkdtemp(prefix="qsys-drmaa-", dir="/tmp"))
    os.chmod(build, 0o755)
    subprocess.run(["make", "-s", "-C", str(REPO / "drmaa"), f"BUILD={build}",
                    f"PYTHON={sys.executable}"], check=True)
    yield build / "libdrmaa.so"
    shutil.rmtree(build, ignore_errors=True)


@pytest.fixture
def workdir(qsys_root: Path) -> Path:
    path = qsys_root / "work"
    path.mkdir()
    return path


def drmaa_env(cluster: Cluster, libdrmaa: Path) -> dict[str, str]:
    return dict(cluster.env, DRMAA_LIBRARY_PATH=str(libdrmaa))
