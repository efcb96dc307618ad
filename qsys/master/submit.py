"""New jobs from submitted specs: ids, owner's group, -hold_jid(_ad) predecessors, the reply.

A new job is visible (qstat) and runnable (the scheduler) only once the store holds it; a
submission the store refuses leaves nothing behind and is answered as Grid Engine answers
a job it cannot spool. Shared by batch submission (``requests.py``), interactive sessions
(``sessions.py``) and qalter's -hold_jid (``alter.py``).
"""

from __future__ import annotations

import fnmatch
import grp
import pwd
from typing import TYPE_CHECKING, Any, Protocol

from qsys.errors import QsysError
from qsys.master.jobs import Job
from qsys.records import Submitted
from qsys.store import StoreError

if TYPE_CHECKING:
    from qsys.jobspec import JobSpec
    from qsys.master.core import Master
    from qsys.master.identity import Identity


class ImmediatePass(Protocol):
    async def run_now(self, job: Job) -> bool:
        """A scheduling pass for a ``-now y`` job: True when it got its slots."""
        ...


def primary_group(user: str, uid: int) -> tuple[str, int]:
    try:
        gid = pwd.getpwnam(user).pw_gid
    except KeyError:
        return str(uid), uid
    try:
        return grp.getgrgid(gid).gr_name, gid
    except KeyError:
        return str(gid), gid


def resolve_predecessors(state: Master, who: Identity, patterns: list[str]) -> set[int]:
    """Unfinished jobs named by -hold_jid (ids, or names with wildcards of the caller's jobs)."""
    found: set[int] = set()
    for pattern in patterns:
        if pattern.isdigit():
            if int(pattern) in state.jobs:
                found.add(int(pattern))
            continue
        for job in state.jobs.values():
            if job.owner == who.user and fnmatch.fnmatchcase(job.name, pattern):
                found.add(job.job_id)
    return found


class NotWritten(QsysError):
    """The store refused a new job (Grid Engine: STATUS_EDISK, qsub exits 1)."""


def new_jobs(state: Master, who: Identity, specs: list[JobSpec]) -> tuple[list[Job], list[Any]]:
    """Jobs for ``specs`` (validated), not yet visible; the store changes to commit."""
    now = state.clock.now()
    group, gid = primary_group(who.user, who.uid)
    first, counter = state.allocate_job_ids(len(specs))
    jobs: list[Job] = []
    changes: list[Any] = []
    for offset, spec in enumerate(specs):
        if spec.checkpoint and not spec.checkpoint_when and spec.checkpoint in state.config.ckpts:
            spec.checkpoint_when = state.config.ckpts[spec.checkpoint].when  # as Grid Engine copies it
        job = Job.new(first + offset, spec, who.user, who.uid, group, gid, now, who.host)
        job.set_predecessors(resolve_predecessors(state, who, spec.hold_jids))
        job.set_predecessors(resolve_predecessors(state, who, spec.hold_jids_ad), array=True)
        jobs.append(job)
        changes.append(state.job_change(job))
    changes.append(counter)
    state.metrics.submissions.inc(len(jobs))
    return jobs, changes


async def create_jobs(state: Master, who: Identity, specs: list[JobSpec]) -> list[Job]:
    """New jobs, durable and then visible; NotWritten (nothing left behind) if refused."""
    jobs, changes = new_jobs(state, who, specs)
    try:
        await state.commit(changes)
    except StoreError as exc:
        raise NotWritten(f"job {jobs[0].job_id} was rejected cause it can't be written: {exc.reason}") from None
    state.publish(jobs)
    return jobs


def submitted(job: Job, warnings: list[str] | None = None) -> Submitted:
    """What qsub is told of a new job (and -w w's warnings)."""
    tasks = job.spec.tasks
    return Submitted(job.job_id, job.name, None if tasks is None else [tasks.first, tasks.last, tasks.step],
                     warnings=warnings or [])
