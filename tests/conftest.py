"""Fixtures: a real cluster (master + exec daemons on loopback) in a temporary QSYS_ROOT."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from execd.lean import ENV_BINARY
from tests import leanlib
from tests.clusterlib import Cluster, ensure_user

pytest_plugins = ["tests.pg"]

# the exec daemons of the tests start plain tasks under this tree's lean shepherd
_lean = leanlib.build()
if _lean is not None and ENV_BINARY not in os.environ:
    os.environ[ENV_BINARY] = str(_lean)

TEST_USERS = ("qsys_alice", "qsys_bob")


@pytest.fixture
def qsys_root() -> Iterator[Path]:
    """A QSYS_ROOT every test user can traverse (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="qsys-test-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cluster(qsys_root: Path) -> Iterator[Cluster]:
    """A personal cluster of the user running the tests: one exec host, 4 slots."""
    with Cluster(qsys_root / "cell", hosts=["node1"], slots=4) as c:
        yield c


@pytest.fixture(scope="session")
def users() -> tuple[str, str]:
    """Two ordinary local users (created with useradd; needs root)."""
    if os.geteuid() != 0:
        pytest.fail("this test needs root (it creates users with useradd)")
    for name in TEST_USERS:
        ensure_user(name)
    return TEST_USERS
