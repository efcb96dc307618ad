"""The end of a task: account it (exactly once), run it again, or forget its job.

Every end goes through :meth:`TaskEnds.task_finished`, whether the exec daemon reported it,
the task could not start, or its host lost it. A record written by a master that was killed
before its commit is recognised in the accounting file's tail and not written twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from qsys.master import rollback
from qsys.master.finished import record_outcome
from qsys.master.reschedule import RESCHEDULED, lost_run
from qsys.records import TaskEnd
from qsys.store import AddAccounting, DeleteJob, DeleteTask, StoreError

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

    def keep_reschedule(self, job_id: int, task_id: int) -> None:
        """Mark the task rescheduled again (its end could not be stored)."""
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
        ``also``: store changes made together with the end (one commit, seen together).
        Raises StoreError when the store refused it: memory is then as before (the exec
        daemon repeats the end until it is acknowledged)."""
        state = self.state
        now = state.clock.now()
        changes: list[Any] = list(also)
        job.tasks.pop(task.task_id, None)
        changes.append(DeleteTask(job.job_id, task.task_id))
        rescheduled = self.reschedules.take_reschedule(job.job_id, task.task_id)  # qmod -rj/-rq
        rerun = (report.rerun or rescheduled) and not task.deleting
        error_state = report.error_state and not task.deleting
        record: dict[str, Any] | None = None
        ended: TaskEnd | None = None
        if rerun:
            job.restarts = {**job.restarts, task.task_id: job.restarts.get(task.task_id, 0) + 1}  # may be shared
            job.pending.add_back(task.task_id)
            if rescheduled or report.failed == RESCHEDULED:
                # Grid Engine accounts a rescheduled run: failed 25, no times, no usage
                record = self.accounting.record(job, task, lost_run(), now)
                record.update(submission_time=0, start_time=0, end_time=0, ru_wallclock=0)
        else:
            final = self.parallel.final_report(job, task, report)
            record = self.accounting.record(job, task, final, now)
            if self.policies is not None:
                changes.extend(self.policies.accounted(job, record, now))
            state.metrics.finishes.inc()
            if error_state:
                # Grid Engine keeps the task and shows the job as Eqw until qmod -cj
                job.error = report.error or f"job {job.job_id}.{task.task_id} failed"
                job.pending.add_back(task.task_id)
            else:
                ended = TaskEnd(job.job_id, task.task_id, report.exit_status, report.signal,
                                report.failed, task.deleting, job.is_array)
                record_outcome(job, [(task.task_id, task.task_id)], report.exit_status, report.signal, report.failed,
                               task.deleting, task.start_time, now)
        if record is not None:
            changes.append(AddAccounting(job.job_id, task.task_id, job.owner, record["end_time"], record))
        if job.finished and not job.error:
            state.drop_job(job)  # and into the finished jobs in the same step: never missing from qstat
            changes.append(DeleteJob(job.job_id))
            changes.extend(state.retained.add(job, now, state.config, task.slots))
            changes.extend(state.release_successors(job))
        else:
            changes.append(state.job_change(job))
        key = None
        if record is not None:
            # written before the job leaves qstat's view, so qacct sees it at once; a line
            # written by a master killed (or refused by the store) before the commit below
            # is not written twice
            key = (job.job_id, task.task_id, int(record["start_time"]))
            if key in self.accounted_before:
                self.accounted_before.discard(key)
            else:
                self.accounting.write(record)
        if ended is not None:
            state.task_ended(job, ended)  # before the commit: it wakes -sync y waiters of a gone job
        state.schedule_soon()  # the next orders can share this commit (see requests.submit)
        try:
            await state.commit(changes)
        except StoreError:
            rollback.keep_reported(state, job.job_id, task)
            if key is not None:
                self.accounted_before.add(key)
            if rescheduled:
                self.reschedules.keep_reschedule(job.job_id, task.task_id)
            if ended is not None:
                state.task_unended(job, ended)
            raise
