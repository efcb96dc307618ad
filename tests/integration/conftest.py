"""Fixtures of the integration tests that more than one module uses."""

from tests.drmaalib import libdrmaa, workdir  # noqa: F401 - fixtures

__all__ = ["libdrmaa", "workdir"]
