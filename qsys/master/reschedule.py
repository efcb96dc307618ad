"""Which running tasks may be rescheduled, and the end a rescheduled run is given.

Shared by ``qmod -r`` (``qmod.py``) and the rescheduling of the jobs of hosts that stopped
reporting (``hostwatch.py``). Grid Engine's rules: only a rerunnable job (``qsub -r y``, or
the queue's ``rerun TRUE`` when ``-r`` was not given) unless forced; never an interactive
job; not a task already being deleted unless forced. A rescheduled run is accounted with
``failed 25`` ("rescheduling") and no usage or times, as Grid Engine writes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qsys.protocol import ExitReport

if TYPE_CHECKING:
    from qsys.master.config import ClusterConfig
    from qsys.master.jobs import Job, Task

RESCHEDULED = 25  # Grid Engine's failed code of a run ended by rescheduling
RESCHEDULE_REASON = "manual/auto rescheduling"


def lost_run() -> ExitReport:
    """The end given to a run that was rescheduled away from its host."""
    return ExitReport(failed=RESCHEDULED, rerun=True, error=RESCHEDULE_REASON)


def rerunnable(config: ClusterConfig, job: Job, task: Task) -> bool:
    """``-r y``/``-r n``, else the ``rerun`` of the queue the task runs in."""
    if job.spec.rerunnable is not None:
        return job.spec.rerunnable
    first = task.master
    return config.queue_attr(first.queue, "rerun", first.host).upper() in ("TRUE", "YES", "Y")


def may_reschedule(config: ClusterConfig, job: Job, task: Task, force: bool) -> bool:
    """Would Grid Engine reschedule this task (automatically, or with ``force``)?"""
    if job.spec.job_type != "batch":
        return False
    if task.deleting and not force:
        return False
    return force or rerunnable(config, job, task)


def pushed_line(job: Job, task: Task, force: bool) -> str:
    """What qmod prints for a task it reschedules (Grid Engine's wording)."""
    label = f"job-array task {job.job_id}.{task.task_id}" if job.is_array else f"job {job.job_id}"
    return f"{'Forced' if force else 'Pushed'} rescheduling of {label} on host {task.master.host}"
