"""``-w e|w|n|v|p``: could a job ever run (or run now), in Grid Engine's words.

One check for qsub/qrsh/qlogin (a new job) and qalter (a changed one): a trial scheduling
pass over the cluster with only this job, ignoring current use (``v``, ``e``, ``w``) or
against it (``p``). As in Grid Engine 8.1.9, a submission that is verified (``v``/``p``) or
refused (``e``) consumes its job id, and nothing else is kept.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from qsys import sched
from qsys.errors import InvalidRequest, Verified
from qsys.master.jobs import Job
from qsys.master.snapshot import pending_snapshot
from qsys.master.submit import primary_group

if TYPE_CHECKING:
    from qsys.jobspec import JobSpec
    from qsys.master.core import Master, Snapshots
    from qsys.master.identity import Identity

FOUND = "verification: found suitable queue(s)"
NONE_FOUND = "verification: no suitable queues"
REFUSED = "error: no suitable queues"
WARNING = "warning: no suitable queues"


def could_run(master: Master, snapshots: Snapshots, job: Job, spec: JobSpec, *, now: bool = False) -> tuple[bool, list[str]]:
    """Would ``job`` with ``spec`` find a queue on an empty cluster (-w v / -w e), or on the
    cluster as it is (``now``: -w p)? And the reasons it would not, as Grid Engine prints
    them (``Job 4 (-l arch=foo) cannot run ...``)."""
    trial = copy.copy(job)
    trial.spec = spec
    snapshot = snapshots.snapshot(master.clock.now())
    pending = pending_snapshot(trial, len(job.tasks))
    pending.held = False
    pending.waiting_on = []
    pending.start_time = None
    snapshot.jobs = [pending]
    decision = sched.schedule(snapshot)
    never = decision.never.get(job.job_id)
    reasons = [f"Job {job.job_id} {reason}" for reason in decision.waiting.get(job.job_id, []) if reason != never]
    if never is not None:
        return False, reasons or [f"Job {job.job_id} {never}"]
    if not now or any(order.job_id == job.job_id for order in decision.dispatches):
        return True, []
    return False, reasons


def verdict(level: str, fits: bool, reasons: list[str]) -> tuple[bool, list[str]]:
    """(go on with the submission or change, lines to tell) for level e|w|v|p."""
    if level in ("v", "p"):
        return False, [FOUND] if fits else [*reasons, NONE_FOUND]
    if fits:
        return True, []
    return (False, [REFUSED]) if level == "e" else (True, [WARNING])


class SubmitVerifier:
    """The -w check of a new job, before it is made."""

    def __init__(self, state: Master, snapshots: Snapshots) -> None:
        self.state = state
        self.snapshots = snapshots

    async def check(self, who: Identity, spec: JobSpec) -> list[str]:
        """The warnings to tell with the job (-w w); raises Verified (-w v/p, it could run)
        or InvalidRequest (the reasons) when the job is not to be submitted."""
        level = spec.verify_level
        if level not in ("e", "w", "v", "p"):
            return []
        state = self.state
        group, gid = primary_group(who.user, who.uid)
        job = Job.new(state.next_job_id, spec, who.user, who.uid, group, gid, state.clock.now(), who.host)
        fits, reasons = could_run(state, self.snapshots, job, spec, now=level == "p")
        go_on, lines = verdict(level, fits, reasons)
        if go_on:
            return lines
        _first, counter = state.allocate_job_ids(1)  # Grid Engine gave the job its number
        await state.commit([counter])
        raise (Verified if fits else InvalidRequest)("\n".join(lines))
