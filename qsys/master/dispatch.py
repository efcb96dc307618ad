"""Drives the scheduler: builds a snapshot, applies its orders, sends the starts.

Event-driven: a submit, a finish, a host or configuration change calls ``trigger()``; passes
are coalesced (one pass answers many triggers) with a periodic pass as a safety net. A pass
is synchronous from snapshot to memory update, so two passes never hand out the same slot;
the orders are made durable before any exec daemon hears of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from qsys import protocol, sched
from qsys.master import pe
from qsys.master.jobs import TRANSFERRING, Assignment, Job, Task

if TYPE_CHECKING:
    from qsys.master.core import Master

log = logging.getLogger("qsys.master.dispatch")

SAFETY_PASS_SECONDS = 5.0


class Dispatcher:
    def __init__(self, master: Master) -> None:
        self.master = master
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.waiting_reasons: dict[int, list[str]] = {}
        self.passes = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def trigger(self) -> None:
        self._wakeup.set()

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wakeup.wait(), SAFETY_PASS_SECONDS)
            except TimeoutError:
                pass
            self._wakeup.clear()
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

    # ------------------------------------------------------------ one pass

    async def run_pass(self, immediate: int | None = None) -> set[int]:
        now = time.time()
        snapshot = self.build_snapshot(now, immediate)
        decision = sched.schedule(snapshot)
        self.passes += 1
        started, changes, launches = self._apply(decision, now)
        if changes:
            await self.master.commit(changes)
        for host, msg in launches:
            if not self.master.execds.send(host, msg):
                log.warning("host=%s went away before job=%s could start", host, msg.job["job_id"])
                if isinstance(msg, protocol.PeSlaveStart):
                    pe.slave_unreachable(self.master, msg)
        if launches:
            self.master.qstates.poke()  # subordinate queues may have to be suspended now
        return started

    def _apply(self, decision: Any, now: float) -> tuple[set[int], list[Any], list[tuple[str, Any]]]:
        master = self.master
        started: set[int] = set()
        touched: dict[int, Job] = {}
        changes: list[Any] = []
        launches: list[tuple[str, Any]] = []
        for order in decision.dispatches:
            job = master.jobs.get(order.job_id)
            if job is None or not job.pending.remove(order.task_id):
                continue
            assignments = [Assignment(a.queue, a.host, a.slots) for a in order.assignments]
            task = Task(order.task_id, TRANSFERRING, assignments, now, pe=order.pe,
                        restarted=job.restarts.get(order.task_id, 0))
            job.tasks[task.task_id] = task
            job.never_reason = ""
            touched[job.job_id] = job
            started.add(job.job_id)
            changes.append(master.task_change(job, task))
            launch = master.config.launch_for(master, job, task)
            slaves = pe.prepare(master, job, task, launch)
            if job.spec.job_type != "batch":
                from qsys.master.sessions import broker

                launch.session = broker(master).launch_session(job, task.master.host)
            launches.append((task.master.host, protocol.StartJob(launch.to_wire())))
            launches.extend(slaves)
        for job in touched.values():
            changes.append(master.job_change(job))
        for job_id, reason in decision.never.items():
            job = master.jobs.get(job_id)
            if job is not None and job.never_reason != reason:
                job.never_reason = reason
        self.waiting_reasons = {k: list(v) for k, v in decision.waiting.items()}
        return started, changes, launches

    # ------------------------------------------------------------ the snapshot

    def used_slots(self) -> Counter[tuple[str, str]]:
        used: Counter[tuple[str, str]] = Counter()
        for job in self.master.jobs.values():
            for task in job.tasks.values():
                for a in task.assignments:
                    used[(a.queue, a.host)] += a.slots
        return used

    def consumption(self) -> tuple[dict[tuple[str, str], dict[str, float]], dict[str, dict[str, float]], dict[str, float]]:
        """What running tasks hold of consumable resources, per queue instance, host and
        cluster (Grid Engine counts a consumable at every level that defines it)."""
        from qsys.sched.values import parse_value

        config = self.master.config
        per_qi: dict[tuple[str, str], dict[str, float]] = {}
        per_host: dict[str, dict[str, float]] = {}
        total: dict[str, float] = {}
        for job in self.master.jobs.values():
            if not job.tasks or not job.spec.hard_resources:
                continue
            for name, text in job.spec.hard_resources.items():
                cdef = config.resolve_complex(name)
                if cdef is None or cdef.consumable == "NO":
                    continue
                try:
                    amount = float(parse_value(cdef.type, text))
                except Exception:
                    continue
                for task in job.tasks.values():
                    for index, a in enumerate(task.assignments):
                        used = amount if cdef.consumable == "JOB" else amount * a.slots
                        if cdef.consumable == "JOB" and index:
                            continue
                        for bucket in (per_qi.setdefault((a.queue, a.host), {}), per_host.setdefault(a.host, {}),
                                       total):
                            bucket[cdef.name] = bucket.get(cdef.name, 0.0) + used
        return per_qi, per_host, total

    def build_snapshot(self, now: float, immediate: int | None = None) -> Any:
        master = self.master
        config = master.config
        used = self.used_slots()
        per_qi, per_host, total = self.consumption()
        hosts = master.execds.hosts
        jobs = []
        for job in master.jobs.values():
            if not job.pending:
                continue
            if job.spec.now and job.job_id != immediate:
                continue  # an immediate job gets exactly one chance: its own pass
            jobs.append(config.pending_snapshot(job, len(job.tasks)))
        host_snaps = config.host_snapshots(hosts)
        for name, snap in host_snaps.items():
            snap.consumed = per_host.get(name, {})
        queue_snaps = config.queue_instance_snapshots(hosts, used)
        for qi in queue_snaps:
            qi.consumed = per_qi.get((qi.queue, qi.host), {})
        pe_snaps = config.pe_snapshots(master)
        master.qstates.decorate(queue_snaps, pe_snaps, {job.owner for job in master.jobs.values() if job.pending})
        return sched.Snapshot(
            now=now,
            complexes=config.complexes(),
            hosts=host_snaps,
            global_values=config.global_values(),
            global_consumed=total,
            queue_instances=queue_snaps,
            pes=pe_snaps,
            jobs=jobs,
            queue_sort_method=config.sched_value("queue_sort_method", "load"),
            load_formula=config.sched_value("load_formula", "np_load_avg"),
        )
