"""``-hold_jid_ad``: task N of an array job waits for task N of each array job it names.

The arrays have the same task range (``validate`` refuses others, as Grid Engine does), so a
task's predecessor is the task of the same number. It is done when it is neither pending nor
running; a predecessor job that left the master (finished or deleted) is done as a whole and
is dropped from ``Job.ad_predecessors`` (``Master.release_successors``). A waiting task shows
``hqw`` and is not given to the scheduler; the others of the job may run.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qsys.master.core import Master
    from qsys.master.jobs import Job


def waiting_test(state: Master, job: Job) -> Callable[[int], bool] | None:
    """Whether a task of ``job`` still waits for the same task of a predecessor (None: the job
    has no -hold_jid_ad predecessor left)."""
    preds = [state.jobs[j] for j in sorted(job.ad_predecessors) if j in state.jobs]
    if not preds:
        return None

    def waits(task_id: int) -> bool:
        return any(task_id in pred.pending or task_id in pred.tasks for pred in preds)

    return waits


def ready_tasks(job: Job, waits: Callable[[int], bool] | None, count: int) -> list[int]:
    """The lowest ``count`` pending tasks of ``job`` that wait for no predecessor task."""
    if waits is None:
        return job.pending.first(count)
    return list(islice((t for t in job.pending if not waits(t)), count))


def split_pending(job: Job, waits: Callable[[int], bool]) -> tuple[list[int], list[int]]:
    """The pending tasks of ``job``: (ready, waiting for a predecessor task)."""
    ready: list[int] = []
    waiting: list[int] = []
    for task_id in job.pending:
        (waiting if waits(task_id) else ready).append(task_id)
    return ready, waiting
