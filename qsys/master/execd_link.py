"""The master's side of the exec daemon links: registration, load, job starts and ends.

An exec daemon proves it holds the cluster key or its host's secret (checked by
:mod:`qsys.master.membership`), registers its facts and the tasks its spool still holds, and
receives its effective configuration. From then on one table maps each message type to its
handler; a message naming another host than the link's is refused. A task's end is acknowledged only after it is durable, so the
exec daemon repeats JobFinished until then and the master accounts each end exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from qsys import protocol
from qsys.errors import NotFound, ProtocolError
from qsys.master import liveusage
from qsys.master.core import ExecHost
from qsys.master.jobs import RUNNING, TRANSFERRING
from qsys.store import DeleteTask, StoreError

if TYPE_CHECKING:
    from qsys.master.core import Master, TaskEndSink
    from qsys.master.jobs import Job, Task
    from qsys.protocol import HandlerTable

log = logging.getLogger("qsys.master.execd")

RETRY_SECONDS = 2.0  # how often ends the store refused are tried again
STARTS_STORED_AFTER = 0.5  # seconds task starts are gathered before one commit stores them


class HostLinks:
    """Sends to the exec daemons over their links (the :class:`~qsys.master.core.HostLink`
    every part that tells a host something is given).

    Inside :meth:`holding` messages are kept instead of sent, so a request that kills or
    signals tasks tells the hosts only after its changes are durable (:meth:`deliver`); a
    request the store refuses tells them nothing.
    """

    def __init__(self, hosts: dict[str, ExecHost]) -> None:
        self.hosts = hosts
        self._held: list[tuple[str, Any]] | None = None
        self._outboxes: dict[str, protocol.Outbox] = {}  # host -> the outbox of its current link

    def send(self, host: str, msg: Any) -> bool:
        """Queue a message to an exec daemon; False when it is not connected."""
        entry = self.hosts.get(host)
        if entry is None or entry.writer is None:
            return False
        if self._held is not None:
            self._held.append((host, msg))
            return True
        box = self._outboxes.get(host)
        if box is None or box.writer is not entry.writer:
            box = self._outboxes[host] = protocol.Outbox(entry.writer)
        box.put(msg)
        return True

    @contextmanager
    def holding(self) -> Iterator[list[tuple[str, Any]]]:
        """Keep what is sent in the block (no await inside it); hand it to :meth:`deliver`."""
        outer, self._held = self._held, []
        try:
            yield self._held
        finally:
            self._held = outer

    def deliver(self, held: list[tuple[str, Any]]) -> None:
        for host, msg in held:
            self.send(host, msg)


class ErrorStates(Protocol):
    def mark_error(self, queue: str, host: str, reason: str, job_id: int = 0,
                   spool_full: bool = False) -> list[Any]: ...

    def spool_has_room(self, host: str, free: int) -> list[Any]: ...


class SlaveHosts(Protocol):
    def resend_slaves(self, host: str) -> None: ...


class ExecdProofs(Protocol):
    def check_execd(self, hello: protocol.ExecdHello, nonce: bytes, writer: asyncio.StreamWriter) -> None:
        """Return when the hello proves its host's key, else raise AuthenticationError."""
        ...


ExecdHandler = Callable[[ExecHost, Any], Awaitable[None]]


class ExecdRegistry:
    """Serves the exec daemons' links: registration and reconciliation, then ``handlers``."""

    def __init__(self, state: Master, handlers: HandlerTable[ExecdHandler], links: HostLinks,
                 ends: TaskEndSink, errors: ErrorStates, slaves: SlaveHosts, proofs: ExecdProofs) -> None:
        self.state = state
        self.proofs = proofs
        self.handlers = handlers
        self.links = links
        self.ends = ends
        self.errors = errors
        self.slaves = slaves
        self.background: set[asyncio.Task[None]] = set()
        self._finishing: dict[tuple[int, int], asyncio.Task[None]] = {}
        self._unstored: dict[tuple[int, int], tuple[str, protocol.ExitReport]] = {}  # ends the store refused
        self._retrier: asyncio.Task[None] | None = None
        self._started: dict[tuple[int, int], tuple[Job, Task]] = {}  # starts to store (_record_start)
        self._start_writer: asyncio.Task[None] | None = None

    def send(self, host: str, msg: Any) -> bool:
        return self.links.send(host, msg)

    # ------------------------------------------------------------ one link

    async def serve(self, hello: protocol.ExecdHello, nonce: bytes, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
        self.proofs.check_execd(hello, nonce, writer)
        reg = await protocol.read_message(reader)
        if not isinstance(reg, protocol.Register) or reg.host != hello.host:
            raise ProtocolError("exec daemon must register after its hello")
        if reg.host in self.state.config.removed_hosts:  # qconf -de: until qconf -ae adds it again
            raise NotFound(f"{reg.host} is not an execution host")
        # what the master believes runs there, taken before the link is up: a task dispatched
        # from now on cannot be in the exec daemon's report and must not count as lost
        believed = [
            (job, task)
            for job in self.state.jobs.values()
            for task in job.tasks.values()
            if task.master.host == reg.host
        ]
        entry = self.state.hosts.get(reg.host)
        if entry is None:
            entry = self.state.hosts[reg.host] = ExecHost(reg.host)
        elif entry.writer is not None:
            entry.writer.close()  # a new link replaces a stale one
        entry.arch, entry.processors, entry.mem_total = reg.arch, reg.processors, reg.mem_total
        entry.swap_total, entry.sockets, entry.cores, entry.threads = reg.swap_total, reg.sockets, reg.cores, reg.threads
        entry.load, entry.last_report = dict(reg.load), self.state.clock.now()
        entry.writer = writer
        entry.unknown_since = 0.0
        entry.ending = set()
        await self.state.config.ensure_exec_host(self.state, reg.host)
        protocol.write_message(writer, self.state.host_config_message(reg.host))
        log.info("host=%s registered (%d processors, %d jobs in spool)", reg.host, reg.processors, len(reg.jobs))
        await self._reconcile(entry, reg.jobs, believed)
        self.slaves.resend_slaves(reg.host)
        await writer.drain()
        self.state.schedule_soon()
        try:
            while True:
                try:
                    msg = await protocol.read_message(reader)
                except protocol.MalformedMessage as exc:  # a whole frame: skip it, keep the link
                    log.error("host=%s ignoring a message: %s", reg.host, exc)
                    continue
                if msg is None:
                    break
                claimed = getattr(msg, "host", reg.host)
                if claimed != reg.host:  # a host speaks for itself only
                    log.warning("host=%s sent %s naming host %s: refused", reg.host, type(msg).__name__, claimed)
                    continue
                await self.handlers.lookup(msg)(entry, msg)
                await writer.drain()
        finally:
            if entry.writer is writer:
                entry.writer = None
                entry.unknown_since = self.state.clock.now()
                log.warning("host=%s link lost", reg.host)
                self.state.schedule_soon()

    async def _reconcile(self, entry: ExecHost, reported: list[protocol.SpoolEntry],
                         believed: list[tuple[Job, Task]]) -> None:
        """Match the tasks the exec daemon reports with what the master believes runs there."""
        seen: set[tuple[int, int]] = set()
        for item in reported:
            key = (item.job_id, item.task_id)
            seen.add(key)
            if item.state == "finished":
                await self._finished(entry, key[0], key[1], item.report or protocol.ExitReport())
                continue
            job = self.state.jobs.get(key[0])
            task = job.tasks.get(key[1]) if job else None
            if task is None or task.master.host != entry.name:
                # deleted or rescheduled away while the host was not heard: never two copies
                log.warning("host=%s job=%d.%d runs here but not for the master any more: killing it",
                            entry.name, *key)
                self.send(entry.name, protocol.KillJob(key[0], key[1], 9))
                entry.ending.add(key)
                continue
            if task.state == TRANSFERRING:
                task.state = RUNNING
                task.pid = item.pid
                task.start_time = task.start_time or self.state.clock.now()
                self._record_start(job, task)
            if task.deleting:
                self.send(entry.name, protocol.KillJob(key[0], key[1], 9))
        for job, task in believed:
            if (job.job_id, task.task_id) in seen or job.tasks.get(task.task_id) is not task:
                continue
            if task.state == TRANSFERRING:
                # never reached the exec daemon: it did not run, so it may simply go back
                log.info("host=%s job=%d.%d was never started: back to pending", entry.name, job.job_id, task.task_id)
                job.tasks.pop(task.task_id)
                job.pending.add_back(task.task_id)
                await self.state.commit([self.state.job_change(job), DeleteTask(job.job_id, task.task_id)])
            else:
                log.warning("host=%s job=%d.%d is lost (not in the exec spool)", entry.name, job.job_id, task.task_id)
                await self.ends.task_finished(job, task, protocol.ExitReport(failed=100, error="job lost by its exec host"))

    async def _finished(self, entry: ExecHost, job_id: int, task_id: int, report: protocol.ExitReport) -> None:
        key = (job_id, task_id)
        if key in entry.ending:
            entry.ending.discard(key)  # a run killed because it was moved away: it may run here again
            self.state.schedule_soon()
        inflight = self._finishing.get(key)
        if inflight is not None:
            try:
                await asyncio.shield(inflight)  # a repeat while the first report is being committed
            except StoreError:
                return
        else:
            job = self.state.jobs.get(job_id)
            task = job.tasks.get(task_id) if job else None
            if job is not None and task is not None and task.master.host == entry.name:
                done = asyncio.get_running_loop().create_task(self.ends.task_finished(job, task, report))
                self._finishing[key] = done
                try:
                    await done
                except StoreError as exc:
                    # not acknowledged: tried again here until stored (the exec daemon repeats it too)
                    log.warning("host=%s job=%d.%d end not stored yet: %s", entry.name, job_id, task_id, exc)
                    self._unstored[key] = (entry.name, report)
                    if self._retrier is None:
                        self._retrier = asyncio.get_running_loop().create_task(self._retry_unstored())
                    return
                finally:
                    del self._finishing[key]
        # an end already accounted (a repeat after a lost ack) is simply acknowledged again
        self.send(entry.name, protocol.FinishedAck(job_id, task_id))

    async def _retry_unstored(self) -> None:
        """Store again the ends the store refused, until none is left (disk full, store away)."""
        try:
            while self._unstored:
                await asyncio.sleep(RETRY_SECONDS)
                if not self.state.committer.available:
                    continue
                for key, (host, report) in list(self._unstored.items()):
                    entry = self.state.hosts.get(host)
                    del self._unstored[key]
                    if entry is not None:
                        await self._finished(entry, key[0], key[1], report)
        finally:
            self._retrier = None

    # ------------------------------------------------------------ messages of a registered host

    async def on_load(self, entry: ExecHost, msg: protocol.LoadReport) -> None:
        entry.load = dict(msg.load)
        entry.last_report = self.state.clock.now()
        liveusage.record(self.state, entry.name, msg.usage)
        entry.spool_free = msg.spool_free
        if msg.spool_free < 0 or not self.state.committer.available:
            return
        cleared = self.errors.spool_has_room(entry.name, msg.spool_free)
        if cleared:
            try:
                await self.state.commit(cleared)
            except StoreError as exc:  # undone; the next report tries again
                log.warning("host=%s spool has room, but its queues stay in E for now: %s", entry.name, exc)

    async def on_started(self, entry: ExecHost, msg: protocol.JobStarted) -> None:
        job = self.state.jobs.get(msg.job_id)
        task = job.tasks.get(msg.task_id) if job else None
        if task is None:
            return
        if task.state == TRANSFERRING:
            self.state.metrics.start_latency.observe(max(0.0, self.state.clock.now() - task.dispatch_time))
        task.state = RUNNING
        task.pid = msg.pid
        task.start_time = msg.start_time
        self._record_start(job, task)
        if task.deleting:
            self.send(entry.name, protocol.KillJob(msg.job_id, msg.task_id, 9))

    def _record_start(self, job: Job | None, task: Task) -> None:
        """Store that a task runs, so a restarted master shows it ``r`` at once (as Grid
        Engine spools the start) instead of ``t`` until its host registers again. The starts
        of the last STARTS_STORED_AFTER seconds go in one commit, off the host's link: a
        drain adds a transaction a while, not one per job; a start not stored yet when the
        master dies is ``t`` after the restart until its host reports it, as before."""
        if job is None:
            return
        self._started[(job.job_id, task.task_id)] = (job, task)
        if self._start_writer is None:
            self._start_writer = asyncio.get_running_loop().create_task(self._store_starts())

    async def _store_starts(self) -> None:
        try:
            while self._started:
                await asyncio.sleep(STARTS_STORED_AFTER)
                started, self._started = self._started, {}
                # a task that ended (or moved) meanwhile: its end is what the store keeps
                changes = [self.state.task_change(job, task) for job, task in started.values()
                           if self.state.jobs.get(job.job_id) is job and job.tasks.get(task.task_id) is task]
                if not changes or not self.state.committer.available:
                    continue  # the store is away: the host's registration tells again
                try:
                    await self.state.commit(changes)
                except StoreError as exc:  # memory keeps the starts (rollback keeps a started run)
                    log.info("%d task starts not stored: %s", len(changes), exc)
        finally:
            self._start_writer = None

    async def on_failed_start(self, entry: ExecHost, msg: protocol.JobFailedStart) -> None:
        job = self.state.jobs.get(msg.job_id)
        task = job.tasks.get(msg.task_id) if job else None
        if job is None or task is None:
            return
        log.warning("host=%s job=%d.%d failed to start: %s", entry.name, msg.job_id, msg.task_id, msg.reason)
        host_fault = not msg.error_state  # the host could not start it: queue instance E, job again
        marked = self.errors.mark_error(task.master.queue, task.master.host, msg.reason, msg.job_id,
                                        msg.spool_full) if host_fault else []
        await self.ends.task_finished(job, task, protocol.ExitReport(failed=1, error=msg.reason,
                                                                     error_state=msg.error_state, rerun=host_fault),
                                      marked)

    async def on_finished(self, entry: ExecHost, msg: protocol.JobFinished) -> None:
        # not awaited here: ends arriving together share one group commit
        task = asyncio.get_running_loop().create_task(self._finished(entry, msg.job_id, msg.task_id, msg.report))
        self.background.add(task)
        task.add_done_callback(self.background.discard)
