"""The master's state and the rules that change it.

All state lives here in memory; every change is made durable in the store (group commits)
before a request that caused it is acknowledged. Request handlers (``requests.py``), the exec
daemon links (``execd_link.py``) and the scheduler driver (``dispatch.py``) call into it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from qsys.master.accounting import AccountingWriter
from qsys.master.config import ClusterConfig
from qsys.master.jobs import Job, Task
from qsys.master.server import Identity
from qsys.paths import Cell
from qsys.store import (
    AddAccounting,
    DeleteJob,
    DeleteTask,
    GroupCommitter,
    PutJob,
    PutTask,
    SetCounter,
    Store,
)

log = logging.getLogger("qsys.master")


class Master:
    def __init__(self, cell: Cell, store: Store, key: bytes, host_name: str, mode: str,
                 owner_uid: int) -> None:
        from qsys.master.dispatch import Dispatcher
        from qsys.master.execd_link import ExecdRegistry

        self.cell = cell
        self.boot = cell.bootstrap()  # read once: the bootstrap file is not re-read per request
        self.store = store
        self.committer = GroupCommitter(store)
        self.key = key
        self.host_name = host_name
        self.mode = mode  # personal | service
        self.owner_uid = owner_uid  # who runs the master (the cluster owner in personal mode)
        self.jobs: dict[int, Job] = {}
        self.next_job_id = 1
        self.config = ClusterConfig()
        self.config.mode = mode
        self.execds = ExecdRegistry(self)
        self.dispatcher = Dispatcher(self)
        from qsys.master.queue_states import QueueStates

        self.qstates = QueueStates(self)
        self.accounting = AccountingWriter(cell.accounting_file)
        self._finish_waiters: dict[int, list[asyncio.Future[Any]]] = {}
        self.finished: dict[int, list[dict[str, Any]]] = {}  # job id -> task end reports (recent)
        self.stopping = asyncio.Event()
        self.accounted_before: set[tuple[int, int, int]] = set()  # see AccountingWriter.written_keys

    # ------------------------------------------------------------ start-up

    def load(self) -> None:
        """Rebuild memory from the store; running tasks stay running until hosts report."""
        loaded = self.store.load()
        self.next_job_id = max(loaded.counters.get("next_job_id", 1), 1)
        for job_id, record in loaded.jobs.items():
            self.jobs[job_id] = Job.from_record(job_id, record)
        for (job_id, task_id), record in loaded.tasks.items():
            job = self.jobs.get(job_id)
            if job is not None:
                job.tasks[task_id] = Task.from_record(record)
        self.config.load(loaded.objects)
        self.accounted_before = self.accounting.written_keys(set(loaded.tasks))
        self.qstates.load(loaded.objects)
        if self.jobs:
            self.next_job_id = max(self.next_job_id, max(self.jobs) + 1)
        log.info("loaded %d jobs, next job id %d", len(self.jobs), self.next_job_id)

    async def close(self) -> None:
        await self.committer.close()
        self.accounting.close()

    # ------------------------------------------------------------ identities

    def identity_for(self, uid: int, user: str, host: str) -> Identity:
        manager = uid == 0 or uid == self.owner_uid or user in self.config.managers
        operator = manager or user in self.config.operators
        return Identity(uid=uid, user=user, host=host, manager=manager, operator=operator)

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
        self.dispatcher.trigger()

    async def task_finished(self, job: Job, task: Task, report: dict[str, Any]) -> None:
        """A task ended (or was given up): account it, rerun or forget it, wake waiters."""
        now = time.time()
        changes: list[Any] = []
        job.tasks.pop(task.task_id, None)
        changes.append(DeleteTask(job.job_id, task.task_id))
        rescheduled = self.qstates.take_reschedule(job.job_id, task.task_id)  # qmod -rj/-rq
        rerun = (bool(report.get("rerun")) or rescheduled) and not task.deleting
        error_state = bool(report.get("error_state")) and not task.deleting
        record: dict[str, Any] | None = None
        if rerun:
            job.restarts[task.task_id] = job.restarts.get(task.task_id, 0) + 1
            job.pending.add_back(task.task_id)
        else:
            from qsys.master.pe import final_report

            record = self.accounting.record(job, task, final_report(self, job, task, report), now)
            changes.append(AddAccounting(job.job_id, task.task_id, job.owner, record["end_time"], record))
            if error_state:
                # Grid Engine keeps the task and shows the job as Eqw until qmod -cj
                job.error = report.get("error") or f"job {job.job_id}.{task.task_id} failed"
                job.pending.add_back(task.task_id)
            else:
                self.finished.setdefault(job.job_id, []).append(
                    {"task_id": task.task_id, "exit_status": report.get("exit_status", 0),
                     "signal": report.get("signal", 0), "failed": report.get("failed", 0),
                     "deleted": task.deleting, "is_array": job.is_array}
                )
        if job.finished and not job.error:
            del self.jobs[job.job_id]
            changes.append(DeleteJob(job.job_id))
            changes.extend(self._release_successors(job))
        else:
            changes.append(self.job_change(job))
        if record is not None:
            # written before the job leaves qstat's view, so qacct sees it at once; a line
            # written by a master killed before the commit below is not written twice
            key = (job.job_id, task.task_id, int(record["start_time"]))
            if key in self.accounted_before:
                self.accounted_before.discard(key)
            else:
                self.accounting.write(record)
        self.schedule_soon()  # the next orders can share this commit (see requests.submit)
        await self.commit(changes)
        if job.job_id not in self.jobs:
            self._wake_waiters(job.job_id)

    def forget_job(self, job: Job) -> list[Any]:
        """Remove a job with nothing running (qdel of a pending job)."""
        self.jobs.pop(job.job_id, None)
        self.finished.setdefault(job.job_id, []).append(
            {"task_id": 0, "exit_status": 0, "signal": 0, "failed": 0, "deleted": True,
             "is_array": job.is_array}
        )
        return [DeleteJob(job.job_id), *self._release_successors(job)]

    def _release_successors(self, done: Job) -> list[Any]:
        changes = []
        for job in self.jobs.values():
            if done.job_id in job.predecessors:
                job.predecessors.discard(done.job_id)
                changes.append(self.job_change(job))
        return changes

    # ------------------------------------------------------------ -sync y

    def wait_for(self, job_id: int) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if job_id not in self.jobs:
            fut.set_result(self.finished.get(job_id, []))
        else:
            self._finish_waiters.setdefault(job_id, []).append(fut)
        return fut

    def _wake_waiters(self, job_id: int) -> None:
        for fut in self._finish_waiters.pop(job_id, []):
            if not fut.done():
                fut.set_result(self.finished.get(job_id, []))
        # keep the recent end reports bounded
        if len(self.finished) > 10000:
            for old in sorted(self.finished)[:5000]:
                del self.finished[old]
