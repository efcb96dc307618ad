"""The master's state, its durability and its events: the bottom of ``qsys.master``.

All state lives here in memory (jobs, the live exec hosts, the configuration handed in);
every change is made durable in the store (group commits) before a request that caused it
is acknowledged. The parts that change it (``main.py`` wires them) receive this state and
the few other parts they need; core itself builds none of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from qsys.master.jobs import Job, Task
from qsys.records import TaskEnd
from qsys.store import DeleteJob, PutJob, PutTask, SetCounter

if TYPE_CHECKING:
    from qsys.arspec import ArRecord
    from qsys.master.clock import Clock
    from qsys.master.config import ClusterConfig
    from qsys.paths import Cell
    from qsys.store import GroupCommitter, Loaded

log = logging.getLogger("qsys.master")


class HostLink(Protocol):
    """Sends to exec daemons (what every part that tells a host something needs)."""

    def send(self, host: str, msg: Any) -> bool:
        """Queue ``msg`` to ``host``'s exec daemon; False when it is not connected."""
        ...


@dataclass(slots=True)
class ExecHost:
    """What the master knows of one exec host (its link: see ``execd_link``)."""

    name: str
    arch: str = "lx-amd64"
    processors: int = 1
    sockets: int = 1
    cores: int = 1
    threads: int = 1
    mem_total: int = 0
    swap_total: int = 0
    load: dict[str, float] = field(default_factory=dict)
    last_report: float = 0.0
    writer: asyncio.StreamWriter | None = None

    @property
    def up(self) -> bool:
        return self.writer is not None


class Master:
    """The state of one master: jobs, exec hosts, configuration; commit and events."""

    def __init__(self, cell: Cell, boot: dict[str, str], committer: GroupCommitter, config: ClusterConfig,
                 clock: Clock, key: bytes, host_name: str, mode: str, owner_uid: int) -> None:
        self.cell = cell
        self.boot = boot  # read once: the bootstrap file is not re-read per request
        self.committer = committer
        self.config = config
        self.clock = clock
        self.key = key
        self.host_name = host_name
        self.mode = mode  # personal | service
        self.owner_uid = owner_uid  # who runs the master (the cluster owner in personal mode)
        self.jobs: dict[int, Job] = {}
        self.hosts: dict[str, ExecHost] = {}  # exec hosts that registered since the start
        self.next_job_id = 1
        self.finished: dict[int, list[TaskEnd]] = {}  # job id -> how its tasks ended (recent)
        self.ars: dict[int, ArRecord] = {}  # advance reservations (qsys.master.advance)
        self._finish_waiters: dict[int, list[asyncio.Future[list[TaskEnd]]]] = {}
        self.pass_wanted = asyncio.Event()  # the dispatcher runs a pass when set
        self.stopping = asyncio.Event()

    # ------------------------------------------------------------ start-up

    def load(self, loaded: Loaded) -> None:
        """Jobs and tasks from the store; running tasks stay running until hosts report."""
        self.next_job_id = max(loaded.counters.get("next_job_id", 1), 1)
        for job_id, record in loaded.jobs.items():
            self.jobs[job_id] = Job.from_record(job_id, record)
        for (job_id, task_id), record in loaded.tasks.items():
            job = self.jobs.get(job_id)
            if job is not None:
                job.tasks[task_id] = Task.from_record(record)
        if self.jobs:
            self.next_job_id = max(self.next_job_id, max(self.jobs) + 1)
        log.info("loaded %d jobs, next job id %d", len(self.jobs), self.next_job_id)

    # ------------------------------------------------------------ durability

    async def commit(self, changes: Sequence[Any]) -> None:
        if changes:
            await self.committer.commit(list(changes))

    def job_change(self, job: Job) -> PutJob:
        return PutJob(job.job_id, job.owner, job.state_label(), job.to_record())

    def task_change(self, job: Job, task: Task) -> PutTask:
        return PutTask(job.job_id, task.task_id, task.state, task.master.host, task.to_record())

    def allocate_job_ids(self, count: int) -> tuple[int, SetCounter]:
        first = self.next_job_id
        self.next_job_id += count
        return first, SetCounter("next_job_id", self.next_job_id)

    # ------------------------------------------------------------ events

    def schedule_soon(self) -> None:
        """Ask for a scheduling pass (many asks before it runs make one pass)."""
        self.pass_wanted.set()

    def task_ended(self, job: Job, end: TaskEnd) -> None:
        self.finished.setdefault(job.job_id, []).append(end)

    def forget_job(self, job: Job) -> list[Any]:
        """Remove a job with nothing running (qdel of a pending job)."""
        self.jobs.pop(job.job_id, None)
        self.task_ended(job, TaskEnd(job.job_id, 0, deleted=True, is_array=job.is_array))
        return [DeleteJob(job.job_id), *self.release_successors(job)]

    def release_successors(self, done: Job) -> list[Any]:
        """Jobs that waited for ``done`` (-hold_jid) wait no more."""
        changes = []
        for job in self.jobs.values():
            if done.job_id in job.predecessors:
                job.predecessors.discard(done.job_id)
                changes.append(self.job_change(job))
        return changes

    # ------------------------------------------------------------ -sync y

    def wait_for(self, job_id: int) -> asyncio.Future[list[TaskEnd]]:
        fut: asyncio.Future[list[TaskEnd]] = asyncio.get_running_loop().create_future()
        if job_id not in self.jobs:
            fut.set_result(self.finished.get(job_id, []))
        else:
            self._finish_waiters.setdefault(job_id, []).append(fut)
        return fut

    def wake_waiters(self, job_id: int) -> None:
        for fut in self._finish_waiters.pop(job_id, []):
            if not fut.done():
                fut.set_result(self.finished.get(job_id, []))
        # keep the recent end reports bounded
        if len(self.finished) > 10000:
            for old in sorted(self.finished)[:5000]:
                del self.finished[old]
