"""The master's state, its durability and its events: the bottom of ``qsys.master``.

All state lives here in memory (jobs, the live exec hosts, the configuration handed in);
every change is made durable in the store (group commits) before a request that caused it
is acknowledged. A new job becomes visible (qstat, the scheduler) only once it is durable
(:meth:`Master.publish`); any other change the store refuses is undone in memory from the
store's image (``rollback.py``), so a failed commit leaves no trace. The parts that change
state (``main.py`` wires them) receive this state and the few other parts they need; core
itself builds none of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence, Set
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from qsys.master import rollback, shared
from qsys.master.finished import FinishedJobs, record_outcome
from qsys.master.giveback import GiveBack
from qsys.master.jobs import Job, Task
from qsys.master.metrics import Metrics
from qsys.protocol import HostConfig
from qsys.records import TaskEnd
from qsys.store import DeleteJob, PutJob, PutTask, SetCounter

if TYPE_CHECKING:
    from qsys import sched
    from qsys.arspec import ArRecord
    from qsys.master.clock import Clock
    from qsys.master.config import ClusterConfig
    from qsys.paths import Cell
    from qsys.protocol import ExitReport
    from qsys.store import GroupCommitter, Image, Loaded

log = logging.getLogger("qsys.master")
RECENT_ENDS = 10000  # jobs whose end reports are kept for a late -sync y (Master.finished)


class HostLink(Protocol):
    """Sends to exec daemons (what every part that tells a host something needs)."""

    def send(self, host: str, msg: Any) -> bool:
        """Queue ``msg`` to ``host``'s exec daemon; False when it is not connected."""
        ...


class HeldLink(HostLink, Protocol):
    """Sends that can wait until the change that caused them is durable."""

    def holding(self) -> AbstractContextManager[list[tuple[str, Any]]]:
        """Keep the messages sent in the block instead of sending them."""
        ...

    def deliver(self, held: list[tuple[str, Any]]) -> None:
        """Send what :meth:`holding` kept."""
        ...


class TaskEndSink(Protocol):
    """Where a task's end goes (qsys.master.ends): accounting, rerun, waiters."""

    async def task_finished(self, job: Job, task: Task, report: ExitReport,
                            also: Sequence[Any] = ()) -> None: ...


class Snapshots(Protocol):
    """The scheduler's view of the cell now (qsys.master.dispatch), for parts that ask the
    scheduler a question outside a pass (verify, quotas, advance reservations)."""

    def snapshot(self, now: float, immediate: int | None = None, *, running: bool = False) -> sched.Snapshot: ...


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
    unknown_since: float = 0.0  # master clock time it stopped being heard (0: it is heard)
    spool_free: int = -1  # bytes free in its exec spool, as last reported (-1: not told)
    ending: set[tuple[int, int]] = field(default_factory=set)  # runs told to die that were moved away

    @property
    def up(self) -> bool:
        return self.writer is not None


class Master:
    """The state of one master: jobs, exec hosts, configuration; commit and events, and the
    figures the parts keep of them (``metrics``)."""

    def __init__(self, cell: Cell, boot: dict[str, str], committer: GroupCommitter, config: ClusterConfig,
                 clock: Clock, key: bytes, host_name: str, mode: str, owner_uid: int,
                 metrics: Metrics | None = None) -> None:
        self.cell = cell
        self.boot = boot  # read once: the bootstrap file is not re-read per request
        self.committer = committer
        self.config = config
        self.clock = clock
        self.key = key
        self.host_name = host_name
        self.mode = mode  # personal | service
        self.owner_uid = owner_uid  # who runs the master (the cluster owner in personal mode)
        self.metrics = metrics or Metrics()
        self.jobs: dict[int, Job] = {}
        self.successors: dict[int, set[int]] = {}  # job id -> the jobs whose -hold_jid(_ad) names it
        self.hosts: dict[str, ExecHost] = {}  # exec hosts that registered since the start
        self.next_job_id = 1
        self.image: Image | None = None  # what the store holds (set with the loaded state)
        # the scheduler's view of each pending job, built once and dropped whenever the job
        # changes (job_change is the one place every change of a job passes): a pass costs
        # a lookup per unchanged job, not a rebuild
        self.pending_views: dict[int, Any] = {}
        self.job_changes = 0  # counts those changes: what is derived from all jobs is kept until it moves
        self.job_watchers: list[Callable[[int], None]] = []  # each told the id of a job that changed (status)
        self.pending_views_cap = 0  # the most task ids a view holds (the cell's slots, snapshot.py)
        self.restorers: dict[str, rollback.Restorer] = {}  # object kind -> undo of a refused change
        committer.on_failure = self._refused
        committer.on_back = self.schedule_soon
        self.finished: dict[int, list[TaskEnd]] = {}  # job id -> how its tasks ended (recent)
        self.ars: dict[int, ArRecord] = {}  # advance reservations (qsys.master.advance)
        self.retained = FinishedJobs()  # finished jobs qstat -s z still shows (qsys.master.finished)
        self.giveback = GiveBack()  # memory back to the system after a burst of jobs came or left
        self._finish_waiters: dict[int, list[asyncio.Future[list[TaskEnd]]]] = {}
        self._forgotten: dict[int, bool] = {}  # jobs deleted before they ran, until that is durable
        self.pass_wanted = asyncio.Event()  # the dispatcher runs a pass when set
        self.stopping = asyncio.Event()
        self.giveback.tables += [self.jobs, self.pending_views, self.successors, self.finished, self._forgotten,
                                 *shared.tables()]

    # ------------------------------------------------------------ start-up

    def load(self, loaded: Loaded, image: Image | None = None) -> None:
        """Jobs and tasks from the store; running tasks stay running until hosts report."""
        self.image = image
        if image is not None:
            self.giveback.tables.append(image.jobs)
        self.next_job_id = max(loaded.counters.get("next_job_id", 1), 1)
        for job_id, record in loaded.jobs.items():
            self.jobs[job_id] = Job.from_record(job_id, record)
        for (job_id, task_id), record in loaded.tasks.items():
            job = self.jobs.get(job_id)
            if job is not None:
                job.tasks[task_id] = Task.from_record(record)
        for job in self.jobs.values():
            self._still_waiting(job)  # a predecessor that ended before a publish
            self._index(job)
        if self.jobs:
            self.next_job_id = max(self.next_job_id, max(self.jobs) + 1)
        log.info("loaded %d jobs, next job id %d", len(self.jobs), self.next_job_id)

    # ------------------------------------------------------------ the job table

    def publish(self, jobs: Sequence[Job]) -> None:
        """New jobs, now durable, become visible (qstat) and runnable (the scheduler)."""
        for job in jobs:
            self._still_waiting(job)  # one may have ended while the job was stored
            self.add_job(job)

    def _still_waiting(self, job: Job) -> None:
        """Only the predecessors still known (no new empty sets: 100,000 jobs wait for none)."""
        if job.predecessors:
            job.set_predecessors(job.predecessors & self.jobs.keys())
        if job.ad_predecessors:
            job.set_predecessors(job.ad_predecessors & self.jobs.keys(), array=True)

    def add_job(self, job: Job) -> None:
        self.jobs[job.job_id] = job
        self._changed(job.job_id)
        self._index(job)
        self.giveback.note()

    def drop_job(self, job: Job) -> None:
        """Take a job out of memory (its end or deletion is committed with the caller's changes)."""
        self.jobs.pop(job.job_id, None)
        self._changed(job.job_id)
        self._unindex(job.job_id, job.predecessors | job.ad_predecessors)
        self.giveback.note()

    def set_predecessors(self, job: Job, predecessors: set[int], array: bool = False) -> None:
        """Change what a job waits for (-hold_jid, ``array``: -hold_jid_ad; qalter), keeping
        the successor index."""
        old = job.predecessors | job.ad_predecessors
        job.set_predecessors(predecessors, array)
        self.reindex(job, old)

    def reindex(self, job: Job, old_predecessors: Set[int]) -> None:
        """``old_predecessors``: all the job waited for (-hold_jid and -hold_jid_ad) before."""
        self._changed(job.job_id)
        self._unindex(job.job_id, old_predecessors - job.predecessors - job.ad_predecessors)
        self._index(job)

    def _index(self, job: Job) -> None:
        for pred in job.predecessors | job.ad_predecessors:
            self.successors.setdefault(pred, set()).add(job.job_id)

    def _unindex(self, job_id: int, predecessors: Set[int]) -> None:
        for pred in predecessors:
            waiting = self.successors.get(pred)
            if waiting is not None:
                waiting.discard(job_id)
                if not waiting:
                    del self.successors[pred]

    # ------------------------------------------------------------ durability

    async def commit(self, changes: Sequence[Any]) -> None:
        """Make ``changes`` durable (raise StoreError and undo them in memory if refused);
        then whoever waits for a job that is gone now hears of its end (-sync y)."""
        if not changes:
            return
        await self.committer.commit(list(changes))
        for ch in changes:
            if not isinstance(ch, DeleteJob) or ch.job_id in self.jobs:
                continue
            is_array = self._forgotten.pop(ch.job_id, None)
            if is_array is not None:  # deleted before it ran: that is how it ended
                self.giveback.note()  # its last traces left with the commit
                self._keep_end(ch.job_id, TaskEnd(ch.job_id, 0, deleted=True, is_array=is_array))
            if ch.job_id in self._finish_waiters:
                self.wake_waiters(ch.job_id)

    def _refused(self, changes: list[Any]) -> None:
        if self.image is None:
            log.error("%d changes were refused by the store and cannot be undone (no image)", len(changes))
            return
        rollback.restore(self, self.image, changes)
        for job_id in list(self._forgotten):
            if job_id in self.jobs:
                del self._forgotten[job_id]  # its deletion was refused: it did not end

    def _changed(self, job_id: int) -> None:
        """A job changed (its record, its tasks, its links) or came or went."""
        self.pending_views.pop(job_id, None)
        self.job_changes += 1
        for tell in self.job_watchers:
            tell(job_id)

    def job_change(self, job: Job) -> PutJob:
        self._changed(job.job_id)
        return PutJob(job.job_id, job.owner, job.state_label(), job.to_record())

    def task_change(self, job: Job, task: Task) -> PutTask:
        return PutTask(job.job_id, task.task_id, task.state, task.master.host, task.to_record())

    def allocate_job_ids(self, count: int) -> tuple[int, SetCounter]:
        first = self.next_job_id
        self.next_job_id += count
        return first, SetCounter("next_job_id", self.next_job_id)

    def master_candidates(self) -> str:
        """The cell's master hosts as its bootstrap names them now (also those added since
        this master started: a joined host keeps them in its own bootstrap)."""
        return (self.cell.bootstrap() or self.boot).get("master_candidates", "")

    def host_config_message(self, host: str, candidates: str | None = None) -> HostConfig:
        """What an exec daemon is told of its configuration (at registration and on changes;
        ``candidates``: ``master_candidates()`` read once for many hosts)."""
        return HostConfig(self.config.host_config(host),
                          self.master_candidates() if candidates is None else candidates)

    # ------------------------------------------------------------ events

    def schedule_soon(self) -> None:
        """Ask for a scheduling pass (many asks before it runs make one pass)."""
        self.pass_wanted.set()

    def task_ended(self, job: Job, end: TaskEnd) -> None:
        self._keep_end(job.job_id, end)

    def _keep_end(self, job_id: int, end: TaskEnd) -> None:
        """Keep a recent end report (for a -sync y that asks after the end), the newest
        :data:`RECENT_ENDS` jobs' only: 50,000 jobs deleted held 12 MB of them for good."""
        self.finished.setdefault(job_id, []).append(end)
        if len(self.finished) > RECENT_ENDS:
            for old in sorted(self.finished)[:RECENT_ENDS // 2]:
                if old not in self._finish_waiters:  # a -sync y still waits for the rest of its ends
                    del self.finished[old]

    def task_unended(self, job: Job, end: TaskEnd) -> None:
        """The end could not be stored: it did not happen (yet) for -sync y waiters."""
        ends = self.finished.get(job.job_id, [])
        ends[:] = [e for e in ends if e is not end]

    def forget_job(self, job: Job) -> list[Any]:
        """Remove a job with nothing running (qdel of a pending job): it joins the finished
        jobs, and its -sync y waiters hear of it once the changes returned are committed."""
        now = self.clock.now()
        record_outcome(job, job.pending.id_runs(), deleted=True, end_time=now)
        self.drop_job(job)
        self._forgotten[job.job_id] = job.is_array
        return [DeleteJob(job.job_id), *self.retained.add(job, now, self.config, job.spec.slots_requested()),
                *self.release_successors(job)]

    def release_successors(self, done: Job) -> list[Any]:
        """Jobs that waited for ``done`` (-hold_jid, -hold_jid_ad) wait no more."""
        changes = []
        for job_id in sorted(self.successors.pop(done.job_id, ())):
            job = self.jobs.get(job_id)
            if job is not None:
                job.set_predecessors(job.predecessors - {done.job_id})
                job.set_predecessors(job.ad_predecessors - {done.job_id}, array=True)
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
