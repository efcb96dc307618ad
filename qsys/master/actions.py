"""qdel, qhold and qrls on jobs and array tasks, with Grid Engine's messages.

``act`` works on memory only and returns the reply lines, whether anything failed, and the
store changes; the caller commits them before answering.
"""

from __future__ import annotations

import re
from typing import Any

from qsys import protocol
from qsys.master.core import Master
from qsys.master.jobs import Job
from qsys.master.pe import end_slaves
from qsys.master.server import Identity

_TARGET = re.compile(r"^(\d+)(?:\.(\d+)(?:-(\d+)(?::(\d+))?)?)?$")


def _parse_target(text: str) -> tuple[int, list[int] | None] | None:
    """``12`` -> (12, None); ``12.3`` -> (12, [3]); ``12.1-5:2`` -> (12, [1, 3, 5])."""
    m = _TARGET.match(text.strip())
    if not m:
        return None
    job_id = int(m.group(1))
    if m.group(2) is None:
        return job_id, None
    first = int(m.group(2))
    last = int(m.group(3) or first)
    step = int(m.group(4) or 1)
    return job_id, list(range(first, last + 1, max(step, 1)))


def act(master: Master, who: Identity, msg: protocol.JobAction) -> tuple[list[str], bool, list[Any]]:
    lines: list[str] = []
    changes: list[Any] = []
    failed = False
    selected: list[tuple[Job | None, str, list[int] | None]] = []
    for text in msg.targets:
        parsed = _parse_target(text)
        job = master.jobs.get(parsed[0]) if parsed else None
        selected.append((job, text, parsed[1] if parsed else None))
    if msg.users:
        everyone = "*" in msg.users
        for job in sorted(master.jobs.values(), key=lambda j: j.job_id):
            if everyone or job.owner in msg.users:
                selected.append((job, str(job.job_id), None))
    for job, text, task_ids in selected:
        if job is None:
            lines.append(f'denied: job "{text}" does not exist')
            failed = True
            continue
        if job.owner != who.user and not who.privileged:
            verb = "delete" if msg.action == "delete" else "modify"
            lines.append(f'{who.user} - you do not have the necessary privileges to {verb} the job "{job.job_id}"')
            failed = True
            continue
        handler = _ACTIONS[msg.action]
        ok = handler(master, who, job, task_ids, msg, lines, changes)
        failed = failed or not ok
    return lines, failed, changes


def _delete(master: Master, who: Identity, job: Job, task_ids: list[int] | None,
            msg: protocol.JobAction, lines: list[str], changes: list[Any]) -> bool:
    ids = task_ids if task_ids is not None else None
    if ids is None:
        if all(t.deleting for t in job.tasks.values()) and job.tasks and not job.pending:
            if not msg.force:
                lines.append(f"job {job.job_id} is already in deletion")
                return True
        removed_pending = job.pending.clear()
        running = list(job.tasks.values())
    else:
        removed_pending = [i for i in ids if job.pending.remove(i)]
        running = [job.tasks[i] for i in ids if i in job.tasks]
        unknown = [i for i in ids if i not in removed_pending and i not in job.tasks]
        for i in unknown:
            lines.append(f'denied: job "{job.job_id}.{i}" does not exist')
        if unknown and not removed_pending and not running:
            return False
    newly = []
    for task in running:
        if task.deleting and not msg.force:
            continue
        task.deleting = True
        newly.append(task)
        master.execds.send(task.master.host, protocol.KillJob(job.job_id, task.task_id, 9))
        end_slaves(master, job, task)
        changes.append(master.task_change(job, task))
    label = _label(job, task_ids)
    if msg.force:
        for task in newly:
            job.tasks.pop(task.task_id, None)
            changes.append(_delete_task(job.job_id, task.task_id))
    if running and (newly or not msg.force):
        lines.append(f"{who.user} has registered the {label} for deletion")
    elif removed_pending or msg.force:
        lines.append(f"{who.user} has deleted {label}")
    if job.finished:
        changes.extend(master.forget_job(job))
    else:
        changes.append(master.job_change(job))
    return True


def _label(job: Job, task_ids: list[int] | None) -> str:
    if task_ids is None:
        return f"job {job.job_id}"
    from qsys.master.tasks import describe_ids

    return f"job-array task {job.job_id}.{describe_ids(task_ids)}"


def _delete_task(job_id: int, task_id: int) -> Any:
    from qsys.store import DeleteTask

    return DeleteTask(job_id, task_id)


def _hold(master: Master, who: Identity, job: Job, task_ids: list[int] | None,
          msg: protocol.JobAction, lines: list[str], changes: list[Any]) -> bool:
    kind = msg.hold_type or "u"
    if kind in ("o", "s") and not who.privileged:
        lines.append(f"{who.user} - you do not have the necessary privileges to modify the hold of job \"{job.job_id}\"")
        return False
    if msg.action == "hold":
        job.holds.add(kind)
    else:
        job.holds.discard(kind)
    changes.append(master.job_change(job))
    target = f"job {job.job_id}" if task_ids is None else f"job-array task {job.job_id}.{task_ids[0]}"
    lines.append(f"modified hold of {target}")
    return True


_ACTIONS = {"delete": _delete, "hold": _hold, "release": _hold}

