"""Drives the scheduler: builds a snapshot, applies its orders, sends the starts.

Event-driven: a submit, a finish, a host or configuration change asks for a pass
(``Master.schedule_soon``); passes are coalesced (one pass answers many asks) with a
periodic pass as a safety net. A pass is synchronous from snapshot to memory update, so two
passes never hand out the same slot; the orders are made durable before any exec daemon
hears of them. Orders the store refuses are undone (the tasks are pending again, see
``rollback.py``); while the store is away no pass runs, and its return asks for one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

from qsys import protocol, sched
from qsys.master import collector
from qsys.master.jobs import TRANSFERRING, Assignment, Job, Task
from qsys.master.launches import launch_for
from qsys.master.metrics import PassTimer
from qsys.master.pacing import Pacer
from qsys.master.snapshot import StateDecorator, build_snapshot
from qsys.store import DeleteTask, StoreError

if TYPE_CHECKING:
    from qsys.launch import Launch
    from qsys.master.core import HostLink, Master

log = logging.getLogger("qsys.master.dispatch")

SAFETY_PASS_SECONDS = 5.0
STORE_BACKOFF_SECONDS = 1.0  # the least wait after a pass whose orders the store refused


class QueueStateView(StateDecorator, Protocol):
    def poke(self) -> None:
        """Re-evaluate the queue states at once (subordinate queues after a start)."""
        ...


class ParallelStarts(Protocol):
    def prepare(self, job: Job, task: Task, launch: Launch) -> list[tuple[str, Any]]: ...

    def slave_unreachable(self, msg: protocol.PeSlaveStart) -> None: ...


class SessionStarts(Protocol):
    def launch_session(self, job: Job, host: str) -> dict[str, Any] | None: ...


class PolicyView(Protocol):
    def fill(self, snap: sched.Snapshot, *, running: bool = False) -> None:
        """Complete a snapshot with the inputs of the policies that are on."""
        ...

    def observe(self, decision: sched.Decision) -> None:
        """Keep what qstat shows of a pass (priorities, tickets, reservations)."""
        ...


class Dispatcher:
    def __init__(self, state: Master, link: HostLink, qstates: QueueStateView, parallel: ParallelStarts,
                 sessions: SessionStarts, pacer: Pacer | None = None, policies: PolicyView | None = None) -> None:
        self.policies = policies
        self.state = state
        self.pacer = pacer or Pacer(state.pass_wanted)
        self.link = link
        self.qstates = qstates
        self.parallel = parallel
        self.sessions = sessions
        self._task: asyncio.Task[None] | None = None
        self.waiting_reasons: dict[int, list[str]] = {}
        self.memo = sched.Memo()  # what passes work out about the configuration, kept while it stays

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())
        self.pacer.active = True

    def stop(self) -> None:
        self.pacer.active = False
        if self._task is not None:
            self._task.cancel()

    async def _loop(self) -> None:
        try:
            await self._passes()
        finally:
            self.pacer.stopped()  # requests and commits never wait for passes that will not come

    async def _passes(self) -> None:
        wanted = self.state.pass_wanted
        loop = asyncio.get_running_loop()
        while True:
            self.pacer.ready = True  # from here to the pass, commits may wait for it (pacing.py)
            try:
                await self.state.clock.wait(wanted, SAFETY_PASS_SECONDS)
                pause = self.pacer.due_at() - loop.time()
                if pause > 0:
                    await asyncio.sleep(pause)  # the requests' share of the time (see pacing.py)
            finally:
                self.pacer.ready = False
            wanted.clear()
            if not self.state.committer.available:
                self.pacer.passed(0.0)
                continue  # nothing could be made durable; the store's return asks for a pass
            try:
                await self.run_pass()
            except asyncio.CancelledError:
                raise
            except StoreError as exc:
                log.warning("scheduling pass: its orders were not stored, the tasks wait again: %s", exc)
                await asyncio.sleep(STORE_BACKOFF_SECONDS)  # no hot loop while the disk is full
            except Exception:
                log.exception("scheduling pass failed")

    async def run_now(self, job: Job) -> bool:
        """A pass for ``-now y``: True when ``job`` got its slots in it."""
        started = await self.run_pass(immediate=job.job_id)
        return job.job_id in started

    def snapshot(self, now: float, immediate: int | None = None, *, running: bool = False) -> sched.Snapshot:
        snap = build_snapshot(self.state, self.qstates, now, immediate)
        if self.policies is not None:
            self.policies.fill(snap, running=running)
        return snap

    # ------------------------------------------------------------ one pass

    async def run_pass(self, immediate: int | None = None) -> set[int]:
        now = self.state.clock.now()
        timer = PassTimer()
        try:
            snapshot = self.snapshot(now, immediate)
            timer.mark()
            with collector.paused():  # and while its orders become tasks and start messages (as many)
                decision = sched.schedule(snapshot, self.memo)
                timer.mark()
                started, changes, launches = self._apply(decision, now)
            timer.mark()
        finally:
            self.pacer.passed(timer.elapsed())  # requests waiting for it go on now
        if changes:
            await self.state.commit(changes)
        timer.mark()
        self.state.metrics.record_pass(timer.times(len(snapshot.jobs), len(decision.dispatches)))
        unsent: list[tuple[int, int]] = []
        for host, msg in launches:
            if not self.link.send(host, msg):
                log.warning("host=%s went away before job=%s could start", host, msg.job["job_id"])
                if isinstance(msg, protocol.PeSlaveStart):
                    self.parallel.slave_unreachable(msg)
                else:
                    unsent.append((msg.job["job_id"], msg.job["task_id"]))
        if unsent:
            await self._never_sent(unsent)
        if launches:
            self.qstates.poke()  # subordinate queues may have to be suspended now
        return started

    async def _never_sent(self, keys: list[tuple[int, int]]) -> None:
        """Tasks whose start never left the master did not run: pending again at once, not
        ``t`` holding slots until their host registers again."""
        state = self.state
        changes: list[Any] = []
        for job_id, task_id in keys:
            job = state.jobs.get(job_id)
            task = job.tasks.get(task_id) if job is not None else None
            if job is None or task is None or task.state != TRANSFERRING:
                continue
            del job.tasks[task_id]
            job.pending.add_back(task_id)
            changes += [DeleteTask(job_id, task_id), state.job_change(job)]
        if changes:
            await state.commit(changes)

    def _still_ending(self, order: Any) -> bool:
        """Is an old run of this task, rescheduled away, still being killed on a granted host?"""
        key = (order.job_id, order.task_id)
        for a in order.assignments:
            entry = self.state.hosts.get(a.host)
            if entry is not None and key in entry.ending:
                return True
        return False

    def _apply(self, decision: Any, now: float) -> tuple[set[int], list[Any], list[tuple[str, Any]]]:
        state = self.state
        started: set[int] = set()
        touched: dict[int, Job] = {}
        changes: list[Any] = []
        launches: list[tuple[str, Any]] = []
        figures = state.metrics
        for order in decision.dispatches:
            job = state.jobs.get(order.job_id)
            if job is None or self._still_ending(order) or not job.pending.remove(order.task_id):
                continue
            assignments = [Assignment(a.queue, a.host, a.slots, a.devices) for a in order.assignments]
            task = Task(order.task_id, TRANSFERRING, assignments, now, pe=order.pe,
                        restarted=job.restarts.get(order.task_id, 0))
            job.tasks[task.task_id] = task
            job.never_reason = ""
            figures.dispatches.inc()
            figures.dispatch_latency.observe(max(0.0, now - max(job.submit_time, job.spec.start_time or 0.0)))
            touched[job.job_id] = job
            started.add(job.job_id)
            changes.append(state.task_change(job, task))
            launch = launch_for(state, job, task)
            slaves = self.parallel.prepare(job, task, launch)
            if job.spec.job_type != "batch":
                launch.session = self.sessions.launch_session(job, task.master.host)
            launches.append((task.master.host, protocol.StartJob(launch.to_wire())))
            launches.extend(slaves)
        for job in touched.values():
            changes.append(state.job_change(job))
        for job_id, reason in decision.never.items():
            job = state.jobs.get(job_id)
            if job is not None and job.never_reason != reason:
                job.never_reason = reason
        self.waiting_reasons = decision.waiting  # the pass's own (not copied: one dict per pass)
        if self.policies is not None:
            self.policies.observe(decision)
        return started, changes, launches
