"""Drives the scheduler: builds a snapshot, applies its orders, sends the starts.

Event-driven: a submit, a finish, a host or configuration change asks for a pass
(``Master.schedule_soon``); passes are coalesced (one pass answers many asks) with a
periodic pass as a safety net. A pass is synchronous from snapshot to memory update, so two
passes never hand out the same slot; the orders are made durable before any exec daemon
hears of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

from qsys import protocol, sched
from qsys.master.jobs import TRANSFERRING, Assignment, Job, Task
from qsys.master.launches import launch_for
from qsys.master.passtimes import PassLog, PassTimes
from qsys.master.snapshot import StateDecorator, build_snapshot

if TYPE_CHECKING:
    from qsys.launch import Launch
    from qsys.master.core import HostLink, Master

log = logging.getLogger("qsys.master.dispatch")

SAFETY_PASS_SECONDS = 5.0


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
                 sessions: SessionStarts, policies: PolicyView | None = None) -> None:
        self.policies = policies
        self.state = state
        self.link = link
        self.qstates = qstates
        self.parallel = parallel
        self.sessions = sessions
        self._task: asyncio.Task[None] | None = None
        self.waiting_reasons: dict[int, list[str]] = {}
        self.pass_log = PassLog()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _loop(self) -> None:
        wanted = self.state.pass_wanted
        while True:
            await self.state.clock.wait(wanted, SAFETY_PASS_SECONDS)
            wanted.clear()
            try:
                await self.run_pass()
            except asyncio.CancelledError:
                raise
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
        t0 = time.perf_counter()
        snapshot = self.snapshot(now, immediate)
        t1 = time.perf_counter()
        decision = sched.schedule(snapshot)
        t2 = time.perf_counter()
        started, changes, launches = self._apply(decision, now)
        t3 = time.perf_counter()
        if changes:
            await self.state.commit(changes)
        self.pass_log.record(PassTimes(t1 - t0, t2 - t1, t3 - t2, time.perf_counter() - t3,
                                       len(snapshot.jobs), len(decision.dispatches)))
        for host, msg in launches:
            if not self.link.send(host, msg):
                log.warning("host=%s went away before job=%s could start", host, msg.job["job_id"])
                if isinstance(msg, protocol.PeSlaveStart):
                    self.parallel.slave_unreachable(msg)
        if launches:
            self.qstates.poke()  # subordinate queues may have to be suspended now
        return started

    def _apply(self, decision: Any, now: float) -> tuple[set[int], list[Any], list[tuple[str, Any]]]:
        state = self.state
        started: set[int] = set()
        touched: dict[int, Job] = {}
        changes: list[Any] = []
        launches: list[tuple[str, Any]] = []
        for order in decision.dispatches:
            job = state.jobs.get(order.job_id)
            if job is None or not job.pending.remove(order.task_id):
                continue
            assignments = [Assignment(a.queue, a.host, a.slots, a.devices) for a in order.assignments]
            task = Task(order.task_id, TRANSFERRING, assignments, now, pe=order.pe,
                        restarted=job.restarts.get(order.task_id, 0))
            job.tasks[task.task_id] = task
            job.never_reason = ""
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
        self.waiting_reasons = {k: list(v) for k, v in decision.waiting.items()}
        if self.policies is not None:
            self.policies.observe(decision)
        return started, changes, launches
