"""The end of a task: account it (exactly once), run it again, or forget its job.

Every end goes through :meth:`TaskEnds.task_finished`, whether the exec daemon reported it,
the task could not start, or its host lost it. A record written by a master that was killed
before its commit is recognised in the accounting file's tail and not written twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from qsys.records import TaskEnd
from qsys.store import AddAccounting, DeleteJob, DeleteTask

if TYPE_CHECKING:
    from qsys.master.accounting import AccountingWriter
    from qsys.master.core import Master
    from qsys.master.jobs import Job, Task
    from qsys.protocol import ExitReport
    from qsys.store import Loaded


class Reschedules(Protocol):
    def take_reschedule(self, job_id: int, task_id: int) -> bool:
        """Was this task killed by qmod -r (so its end puts it back to pending)?"""
        ...


class ParallelEnds(Protocol):
    def final_report(self, job: Job, task: Task, report: ExitReport) -> ExitReport:
        """The master task's report, its slave hosts told the job ended."""
        ...


class AccountingPolicies(Protocol):
    def accounted(self, job: Job, record: dict[str, Any], now: float) -> list[Any]:
        """Complete a task's accounting record (department, advance reservation) and charge
        its usage to its owner; the store changes."""
        ...


class TaskEnds:
    def __init__(self, state: Master, accounting: AccountingWriter, reschedules: Reschedules,
                 parallel: ParallelEnds, policies: AccountingPolicies | None = None) -> None:
        self.policies = policies
        self.state = state
        self.accounting = accounting
        self.reschedules = reschedules
        self.parallel = parallel
        self.accounted_before: set[tuple[int, int, int]] = set()  # see AccountingWriter.written_keys

    def load(self, loaded: Loaded) -> None:
        self.accounted_before = self.accounting.written_keys(set(loaded.tasks))

    async def task_finished(self, job: Job, task: Task, report: ExitReport, also: Sequence[Any] = ()) -> None:
        """A task ended (or was given up): account it, rerun or forget it, wake waiters.
        ``also``: store changes made together with the end (one commit, seen together)."""
        state = self.state
        now = state.clock.now()
        changes: list[Any] = list(also)
        job.tasks.pop(task.task_id, None)
        changes.append(DeleteTask(job.job_id, task.task_id))
        rescheduled = self.reschedules.take_reschedule(job.job_id, task.task_id)  # qmod -rj/-rq
        rerun = (report.rerun or rescheduled) and not task.deleting
        error_state = report.error_state and not task.deleting
        record: dict[str, Any] | None = None
        if rerun:
            job.restarts[task.task_id] = job.restarts.get(task.task_id, 0) + 1
            job.pending.add_back(task.task_id)
        else:
            final = self.parallel.final_report(job, task, report)
            record = self.accounting.record(job, task, final, now)
            if self.policies is not None:
                changes.extend(self.policies.accounted(job, record, now))
            changes.append(AddAccounting(job.job_id, task.task_id, job.owner, record["end_time"], record))
            if error_state:
                # Grid Engine keeps the task and shows the job as Eqw until qmod -cj
                job.error = report.error or f"job {job.job_id}.{task.task_id} failed"
                job.pending.add_back(task.task_id)
            else:
                state.task_ended(job, TaskEnd(job.job_id, task.task_id, report.exit_status, report.signal,
                                              report.failed, task.deleting, job.is_array))
        if job.finished and not job.error:
            del state.jobs[job.job_id]
            changes.append(DeleteJob(job.job_id))
            changes.extend(state.release_successors(job))
        else:
            changes.append(state.job_change(job))
        if record is not None:
            # written before the job leaves qstat's view, so qacct sees it at once; a line
            # written by a master killed before the commit below is not written twice
            key = (job.job_id, task.task_id, int(record["start_time"]))
            if key in self.accounted_before:
                self.accounted_before.discard(key)
            else:
                self.accounting.write(record)
        state.schedule_soon()  # the next orders can share this commit (see requests.submit)
        await state.commit(changes)
        if job.job_id not in state.jobs:
            state.wake_waiters(job.job_id)
