"""Undo in memory what the store refused: every key a failed batch touched is put back as
the store holds it (``qsys.store.image``), so no trace of a refused change stays behind --
not a job, not a task state, not the job-id counter, not a queue state or an object.

What only the exec daemons know and never went to the store (a task that started, its pid,
its usage) is true whatever failed, so a task of the same run keeps it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from qsys.master.jobs import RUNNING, Job, Task
from qsys.store import DeleteJob, DeleteObject, DeleteTask, PutJob, PutObject, PutTask, SetCounter

if TYPE_CHECKING:
    from qsys.master.core import Master
    from qsys.store import Image

log = logging.getLogger("qsys.master")

# kind -> puts back one object (its stored record, or None: it is not stored)
Restorer = Callable[[str, dict[str, Any] | None], None]


def touched(changes: Iterable[Any]) -> tuple[set[int], set[tuple[str, str]], set[str]]:
    """The job ids, object keys and counter names a list of changes writes."""
    jobs: set[int] = set()
    objects: set[tuple[str, str]] = set()
    counters: set[str] = set()
    for ch in changes:
        if isinstance(ch, (PutJob, DeleteJob, PutTask, DeleteTask)):
            jobs.add(ch.job_id)
        elif isinstance(ch, (PutObject, DeleteObject)):
            objects.add((ch.kind, ch.name))
        elif isinstance(ch, SetCounter):
            counters.add(ch.name)
    return jobs, objects, counters


def restore(state: Master, image: Image, changes: Iterable[Any]) -> None:
    """Put memory back as the store holds it for everything ``changes`` touched."""
    job_ids, objects, counters = touched(changes)
    for job_id in job_ids:
        _restore_job(state, image, job_id)
    for kind, name in objects:
        restorer = state.restorers.get(kind)
        if restorer is not None:
            restorer(name, image.object(kind, name))
    if "next_job_id" in counters:
        highest = max(state.jobs, default=0)
        state.next_job_id = max(image.counters.get("next_job_id", 1), highest + 1, 1)
    if job_ids or objects:
        log.info("undid %d jobs and %d objects the store refused", len(job_ids), len(objects))


def _restore_job(state: Master, image: Image, job_id: int) -> None:
    current = state.jobs.get(job_id)
    record = image.job(job_id)
    if record is None:
        if current is not None:
            state.drop_job(current)
        return
    stored = Job.from_record(job_id, record)
    tasks: dict[int, Task] = {}
    for task_id, task_record in image.tasks_of(job_id).items():
        task = Task.from_record(task_record)
        old = current.tasks.get(task_id) if current is not None else None
        if old is not None and old.dispatch_time == task.dispatch_time:
            # the same run: keep what its exec daemon reported, keep the object others hold
            started = old.state == RUNNING
            _copy(task, old)
            if started:
                old.state = RUNNING
            old.pid = old.pid or task.pid
            task = old
        tasks[task_id] = task
    stored.tasks = tasks
    if current is None:
        state.add_job(stored)
        return
    stored.never_reason = current.never_reason
    old_predecessors = current.predecessors | current.ad_predecessors
    _copy(stored, current)  # in place: requests and links in flight hold this object
    state.reindex(current, old_predecessors)


def keep_reported(state: Master, job_id: int, task: Task) -> None:
    """After an undo, the task restored from the store gets what the exec daemon reported of
    this run (``task``: the object the refused change had taken out of its job)."""
    job = state.jobs.get(job_id)
    restored = job.tasks.get(task.task_id) if job is not None else None
    if restored is None or restored is task or restored.dispatch_time != task.dispatch_time:
        return
    if task.state == RUNNING:
        restored.state = RUNNING
    restored.pid = task.pid or restored.pid
    restored.start_time = task.start_time or restored.start_time
    restored.usage = task.usage


def _copy(source: Any, target: Any) -> None:
    for name in type(source).__slots__:
        if name in ("usage", "start_time") and getattr(target, name, None):
            continue  # measured by the exec host (usage) or reported by it (start)
        setattr(target, name, getattr(source, name))
