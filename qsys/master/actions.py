"""qdel, qhold and qrls on jobs and array tasks, with Grid Engine's messages.

``act`` works on memory only and returns the reply lines, whether anything failed, and the
store changes; the caller commits them before answering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from qsys import protocol
from qsys.errors import InvalidRequest
from qsys.master.finished import record_outcome
from qsys.master.tasks import describe_ids, parse_job_target
from qsys.store import DeleteTask

if TYPE_CHECKING:
    from qsys.master.core import HostLink, Master
    from qsys.master.identity import Identity
    from qsys.master.jobs import Job, Task


class SlaveEnds(Protocol):
    def end_slaves(self, job: Job, task: Task, sig: int = 9) -> None: ...


class JobActions:
    """qdel, qhold and qrls over the master's jobs (memory only; the caller commits)."""

    def __init__(self, state: Master, link: HostLink, slaves: SlaveEnds) -> None:
        self.state = state
        self.link = link
        self.slaves = slaves

    def act(self, who: Identity, msg: protocol.JobAction) -> tuple[list[str], bool, list[Any]]:
        handler = {"delete": self._delete, "hold": self._hold, "release": self._hold}.get(msg.action)
        if handler is None:
            raise InvalidRequest(f"unknown job action '{msg.action}'")
        lines: list[str] = []
        changes: list[Any] = []
        failed = False
        selected: list[tuple[Job | None, str, list[int] | None]] = []
        for text in msg.targets:
            parsed = parse_job_target(text)
            job = self.state.jobs.get(parsed[0]) if parsed else None
            selected.append((job, text, parsed[1] if parsed else None))
        if msg.users:
            everyone = "*" in msg.users
            for job in sorted(self.state.jobs.values(), key=lambda j: j.job_id):
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
            handler = self._hold if msg.action in ("hold", "release") else self._delete
            ok = handler(who, job, task_ids, msg, lines, changes)
            failed = failed or not ok
        return lines, failed, changes


    def _delete(self, who: Identity, job: Job, task_ids: list[int] | None,
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
            removed = {i for i in ids if job.pending.remove(i)}
            removed_pending = [(i, i) for i in sorted(removed)]
            running = [job.tasks[i] for i in ids if i in job.tasks]
            unknown = [i for i in ids if i not in removed and i not in job.tasks]
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
            self.link.send(task.master.host, protocol.KillJob(job.job_id, task.task_id, 9))
            self.slaves.end_slaves(job, task)
            changes.append(self.state.task_change(job, task))
        label = _label(job, task_ids)
        now = self.state.clock.now()
        record_outcome(job, removed_pending, deleted=True, end_time=now)
        if msg.force:
            for task in newly:
                job.tasks.pop(task.task_id, None)
                changes.append(DeleteTask(job.job_id, task.task_id))
                record_outcome(job, [(task.task_id, task.task_id)], deleted=True, start_time=task.start_time,
                               end_time=now)
        if running and (newly or not msg.force):
            lines.append(f"{who.user} has registered the {label} for deletion")
        elif removed_pending or msg.force:
            lines.append(f"{who.user} has deleted {label}")
        if job.finished:
            changes.extend(self.state.forget_job(job))
        else:
            changes.append(self.state.job_change(job))
        return True

    def _hold(self, who: Identity, job: Job, task_ids: list[int] | None,
              msg: protocol.JobAction, lines: list[str], changes: list[Any]) -> bool:
        kind = msg.hold_type or "u"
        if kind in ("o", "s") and not who.privileged:
            lines.append(f"{who.user} - you do not have the necessary privileges to modify the hold of job \"{job.job_id}\"")
            return False
        job.set_holds(job.holds | {kind} if msg.action == "hold" else job.holds - {kind})
        changes.append(self.state.job_change(job))
        target = f"job {job.job_id}" if task_ids is None else f"job-array task {job.job_id}.{task_ids[0]}"
        lines.append(f"modified hold of {target}")
        return True


def _label(job: Job, task_ids: list[int] | None) -> str:
    if task_ids is None:
        return f"job {job.job_id}"
    return f"job-array task {job.job_id}.{describe_ids(task_ids)}"
