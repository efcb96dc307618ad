"""The one place qsys-restd talks to the master: every use of ``qsys.client`` is here.

Each call opens a connection *as the caller*: over TCP with a credential signed with the
cluster key for the caller's uid (``Client(act_as=uid)``), so the master applies its own
rules (owners, operators, managers, submit and admin hosts) to the person asking, never to
restd. Replies are handed on as the client library's typed records; the routes turn them into
JSON with ``qsys.records.json_form``, as the commands' ``--json`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from qsys import records as rows
from qsys.client import Client
from qsys.errors import NotFound, ProtocolError
from qsys.jobspec import JobSpec
from qsys.paths import Cell
from qsys.protocol import ConfText, Lines, Names

TIMEOUT = 30.0


@dataclass
class Snapshot:
    """Everything the dashboard and /metrics show, taken over one connection."""

    jobs: list[rows.JobRow]
    queue_instances: list[rows.QueueInstanceRow]
    hosts: list[rows.HostRow]
    cluster_queues: list[rows.ClusterQueueRow]
    exec_hosts: list[str]  # configured exec hosts (also those never seen)
    master: rows.MasterMetrics | None  # the master's own figures


class MasterAdapter:
    """The master of one cell, seen by one caller at a time (``uid``)."""

    def __init__(self, cell: Cell) -> None:
        self.cell = cell

    @contextmanager
    def _client(self, uid: int) -> Iterator[Client]:
        with Client(self.cell, timeout=TIMEOUT, act_as=uid) as client:
            yield client

    # ------------------------------------------------------------ jobs

    def jobs(self, uid: int, users: list[str] | None = None, states: str = "") -> list[rows.JobRow]:
        """qstat rows (pending jobs, running tasks) of ``users`` (None: everyone)."""
        with self._client(uid) as client:
            return client.jobs(users or ["*"], states=states)

    def job(self, uid: int, job_id: str) -> rows.JobDetail:
        """What ``qstat -j`` knows of one job; NotFound in qstat's words when it is gone."""
        with self._client(uid) as client:
            details = client.job_details([job_id]).details
        if not details:
            raise NotFound(f"Following jobs do not exist or permissions are not sufficient: \n{job_id}")
        return details[0]

    def submit(self, uid: int, spec: JobSpec) -> rows.Submitted:
        with self._client(uid) as client:
            return client.submit(spec)

    def job_action(self, uid: int, action: str, targets: list[str], force: bool = False,
                   hold_type: str = "u") -> Lines:
        """qdel (``delete``), qhold (``hold``), qrls (``release``)."""
        with self._client(uid) as client:
            return client.job_action(action, targets, force=force, hold_type=hold_type)

    def alter(self, uid: int, targets: list[str], changes: dict[str, Any], verify: str = "") -> Lines:
        with self._client(uid) as client:
            return client.alter(targets, changes, verify=verify)

    # ------------------------------------------------------------ hosts and queues

    def hosts(self, uid: int) -> list[rows.HostRow]:
        with self._client(uid) as client:
            return client.hosts()

    def queue_instances(self, uid: int) -> list[rows.QueueInstanceRow]:
        """qstat -f's queue instances (used/total slots, load, states)."""
        with self._client(uid) as client:
            return client.queues(["*"], brief=True).queues

    def cluster_queues(self, uid: int) -> list[rows.ClusterQueueRow]:
        with self._client(uid) as client:
            return client.cluster_queues()

    def queue_action(self, uid: int, action: str, targets: list[str], force: bool = False) -> Lines:
        """qmod on queue instances."""
        with self._client(uid) as client:
            return client.queue_action(action, targets, jobs=False, force=force)

    def snapshot(self, uid: int) -> Snapshot:
        with self._client(uid) as client:
            both = client.queues(["*"])
            snap = Snapshot(both.jobs, both.queues, client.hosts(), client.cluster_queues(),
                            client.conf_list("exechost"), None)
            try:
                snap.master = client.master_metrics()
            except ProtocolError:  # a master older than MetricsStatus: the rest still counts
                pass
            return snap

    # ------------------------------------------------------------ configuration (qconf)

    def conf_names(self, uid: int, kind: str) -> Names:
        """qconf -s*l."""
        with self._client(uid) as client:
            return Names(client.conf_list(kind))

    def conf_show(self, uid: int, kind: str, name: str = "") -> ConfText:
        """qconf -s*."""
        with self._client(uid) as client:
            return client.conf_show(kind, name)

    def conf_change(self, uid: int, op: str, kind: str, name: str = "", text: str = "", **attrs: Any) -> Lines:
        """add, modify, delete, attr: one change through the master's generic object path (the
        master checks the rights)."""
        with self._client(uid) as client:
            reply = client.conf(op, kind, name, text, **attrs)
        if not isinstance(reply, Lines):
            raise ProtocolError(f"unexpected reply {type(reply).__name__} to a {op} of a {kind}")
        return reply
