"""The one place qsys-restd talks to the master: every use of ``qsys.client`` is here.

Each call opens a connection *as the caller*: over TCP with a credential signed with the
cluster key for the caller's uid (``Client(act_as=uid)``), so the master applies its own
rules (owners, operators, managers, submit and admin hosts) to the person asking, never to
restd. Replies are handed on as plain JSON values (``plain``), whatever form the client
library gives them, so the routes never depend on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from qsys import record
from qsys.client import Client
from qsys.errors import NotFound
from qsys.jobspec import JobSpec
from qsys.paths import Cell

TIMEOUT = 30.0


def plain(value: Any) -> Any:
    """``value`` as JSON-ready maps, lists and scalars (records and dataclasses become maps)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if hasattr(type(value), "__record_fields__"):  # qsys.record classes
        return plain(record.asdict(value))
    return value


class MasterAdapter:
    """The master of one cell, seen by one caller at a time (``uid``)."""

    def __init__(self, cell: Cell) -> None:
        self.cell = cell

    @contextmanager
    def _client(self, uid: int) -> Iterator[Client]:
        with Client(self.cell, timeout=TIMEOUT, act_as=uid) as client:
            yield client

    # ------------------------------------------------------------ jobs

    def jobs(self, uid: int, users: list[str] | None = None, states: str = "") -> list[dict[str, Any]]:
        """qstat rows (pending jobs, running tasks) of ``users`` (None: everyone)."""
        with self._client(uid) as client:
            return plain(client.jobs(users or ["*"], states=states))

    def job(self, uid: int, job_id: str) -> dict[str, Any]:
        """What ``qstat -j`` knows of one job; NotFound in qstat's words when it is gone."""
        with self._client(uid) as client:
            data = plain(client.job_details([job_id]))
        if not data["details"]:
            raise NotFound(f"Following jobs do not exist or permissions are not sufficient: \n{job_id}")
        return data["details"][0]

    def submit(self, uid: int, spec: JobSpec) -> dict[str, Any]:
        with self._client(uid) as client:
            return plain(client.submit(spec))

    def job_action(self, uid: int, action: str, targets: list[str], force: bool = False,
                   hold_type: str = "u") -> dict[str, Any]:
        """qdel (``delete``), qhold (``hold``), qrls (``release``): {lines, exit}."""
        with self._client(uid) as client:
            return plain(client.job_action(action, targets, force=force, hold_type=hold_type))

    def alter(self, uid: int, targets: list[str], changes: dict[str, Any], verify: str = "") -> dict[str, Any]:
        with self._client(uid) as client:
            return plain(client.alter(targets, changes, verify=verify))

    # ------------------------------------------------------------ hosts and queues

    def hosts(self, uid: int) -> list[dict[str, Any]]:
        with self._client(uid) as client:
            return plain(client.hosts())

    def queue_instances(self, uid: int) -> list[dict[str, Any]]:
        """qstat -f's queue instances (used/total slots, load, states)."""
        with self._client(uid) as client:
            return plain(client.queues(["*"], brief=True)["queues"])

    def cluster_queues(self, uid: int) -> list[dict[str, Any]]:
        with self._client(uid) as client:
            return plain(client.cluster_queues())

    def queue_action(self, uid: int, action: str, targets: list[str], force: bool = False) -> dict[str, Any]:
        """qmod on queue instances: {lines, exit}."""
        with self._client(uid) as client:
            return plain(client.queue_action(action, targets, jobs=False, force=force))

    def snapshot(self, uid: int) -> dict[str, Any]:
        """Everything the dashboard and /metrics show, over one connection."""
        with self._client(uid) as client:
            both = plain(client.queues(["*"]))
            return {
                "jobs": both["jobs"],
                "queue_instances": both["queues"],
                "hosts": plain(client.hosts()),
                "cluster_queues": plain(client.cluster_queues()),
                "exec_hosts": plain(client.conf_list("exechost")),
                "master": None,  # planned: the master's own figures (see qsys.restd.metrics)
            }

    # ------------------------------------------------------------ configuration (qconf)

    def conf(self, uid: int, op: str, kind: str, name: str = "", text: str = "", **attrs: Any) -> Any:
        """One operation of the master's generic object path; the master checks the rights."""
        with self._client(uid) as client:
            return plain(client.conf(op, kind, name, text, **attrs))
