"""Fixtures of the integration tests that more than one module uses."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qsys.testing import SimCluster
from tests.drmaalib import libdrmaa, workdir  # noqa: F401 - fixtures

__all__ = ["MakeCluster", "libdrmaa", "sim_cluster", "workdir"]

MakeCluster = Callable[..., SimCluster]


@pytest.fixture
def sim_cluster(qsys_root: Path) -> Iterator[MakeCluster]:
    """Build a SimCluster (a master in this process and N simulated hosts); stopped at the end."""
    made: list[SimCluster] = []

    def make(**kwargs: Any) -> SimCluster:
        cluster = SimCluster(qsys_root / f"cell{len(made)}", **kwargs).start()
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop()

