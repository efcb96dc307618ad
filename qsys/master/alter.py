"""qalter in the master: change what a job asked for, with Grid Engine's messages.

The client sends the JobSpec fields named by the qsub options it was given (``changes``).
Most can change while the job waits; for a running job Grid Engine refuses changes that
would invalidate what was granted (consumable requests, the parallel environment, the
array range), and so do we. ``-w v`` only reports whether the changed job could ever run;
``-w e`` refuses a change after which it could not; ``-w w`` warns and applies it.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any

from qsys import protocol
from qsys.errors import InvalidRequest, QsysError
from qsys.jobspec import JobSpec
from qsys.master.submit import resolve_predecessors
from qsys.master.validate import validate_spec
from qsys.master.verify import could_run, verdict

if TYPE_CHECKING:
    from qsys.master.core import Master, Snapshots
    from qsys.master.identity import Identity
    from qsys.master.jobs import Job


# JobSpec field -> the attribute name Grid Engine prints in "modified <name> of job N"
ATTRIBUTE_NAMES: dict[str, str] = {
    "name": "job name",
    "account": "account",
    "cwd": "working directory",
    "start_time": "start time",
    "stderr_paths": "stderr path list",
    "stdout_paths": "stdout path list",
    "join": "output merge behaviour",
    "hard_resources": "hard resource list",
    "soft_resources": "soft resource list",
    "mail_options": "mail options",
    "mail_list": "mail list",
    "notify": "notify behaviour",
    "hard_queues": "hard queue list",
    "soft_queues": "soft queue list",
    "master_queues": "master hard queue list",
    "rerunnable": "restart behaviour",
    "shell": "shell list",
    "env": "environment",
    "export_all": "environment",
    "project": "project",
    "checkpoint": "checkpointing environment",
    "pe": "slot range",
    "task_concurrency": "task concurrency",
    "stdin_path": "stdin path list",
    "pty": "pty behaviour",
}
# fields a running job keeps as granted
_FIXED_WHEN_RUNNING = ("pe", "tasks")


def _find(master: Master, who: Identity, msg: protocol.AlterJob) -> tuple[list[Job], list[str]]:
    jobs: list[Job] = []
    missing: list[str] = []
    for text in msg.targets:
        head = text.split(".")[0]
        if head.isdigit():
            job = master.jobs.get(int(head))
            if job is None:
                missing.append(text)
            else:
                jobs.append(job)
            continue
        named = [j for j in master.jobs.values() if fnmatch.fnmatchcase(j.name, text)
                 and (who.privileged or j.owner == who.user)]
        if not named:
            missing.append(text)
        jobs.extend(sorted(named, key=lambda j: j.job_id))
    if msg.users:
        everyone = "*" in msg.users
        jobs.extend(sorted((j for j in master.jobs.values() if everyone or j.owner in msg.users),
                           key=lambda j: j.job_id))
    return list({j.job_id: j for j in jobs}.values()), missing


def _alter_one(master: Master, snapshots: Snapshots, who: Identity, job: Job, msg: protocol.AlterJob,
               lines: list[str]) -> tuple[bool, list[Any]]:
    """Apply the changes to one job; (ok, store changes)."""
    if job.owner != who.user and not who.privileged:
        lines.append(f'{who.user} - you do not have the necessary privileges to modify the job "{job.job_id}"')
        return False, []
    changes = dict(msg.changes)
    holds = changes.pop("_holds", None)
    if "override_tickets" in changes and not who.privileged:
        lines.append(f'denied: "{who.user}" must be operator to change amount of override tickets')
        return False, []
    wire = job.spec.to_wire()
    wire.update(changes)
    try:
        spec = JobSpec.from_wire(wire)
    except ValueError as exc:
        raise InvalidRequest(f"qalter: {exc}") from None
    running = bool(job.tasks)
    if running:
        for name in _FIXED_WHEN_RUNNING:
            if name in changes and getattr(spec, name) != getattr(job.spec, name):
                lines.append(f"job {job.job_id} can't modify running jobs")
                return False, []
        if "hard_resources" in changes:
            for name in set(spec.hard_resources) | set(job.spec.hard_resources):
                cdef = master.config.resolve_complex(name)
                if cdef is not None and cdef.is_consumable and \
                        spec.hard_resources.get(name) != job.spec.hard_resources.get(name):
                    lines.append(f'denied: resource request on consumable "{cdef.name}" of running job was modified')
                    return False, []
    if "checkpoint" in changes and spec.checkpoint and spec.checkpoint not in master.config.ckpts:
        lines.append(f'denied: checkpointing environment "{spec.checkpoint}" does not exist')  # qalter's words
        return False, []
    try:
        validate_spec(master, who, spec)
    except QsysError as exc:
        lines.append(exc.message)
        return False, []
    level = msg.verify
    if level in ("v", "p") and (job.tasks or job.holds):
        lines.append("verification: job is already running or is held")
        return True, []
    if level in ("v", "p", "e", "w"):
        fits, reasons = could_run(master, snapshots, job, spec, now=level == "p")
        go_on, said = verdict(level, fits, reasons)
        lines.extend(said)
        if not go_on:
            return fits, []
    out: list[Any] = []
    for name in changes:
        if name == "priority":
            lines.append(f"{who.user}@{who.host} sets scheduling priority of job {job.job_id} to {spec.priority}")
        elif name == "override_tickets":
            lines.append(f"{who.user}@{who.host} sets override tickets of job {job.job_id} to {spec.override_tickets}")
        elif name == "hold_jids":
            _set_predecessors(master, who, job, spec, lines)
        elif name == "hold_jids_ad":
            _set_predecessors(master, who, job, spec, lines, array=True)
        elif name in ATTRIBUTE_NAMES and not (name == "export_all" and "env" in changes):
            lines.append(f"modified {ATTRIBUTE_NAMES[name]} of job {job.job_id}")
    job.replace_spec(spec)
    if holds is not None:
        _change_holds(who, job, str(holds), lines)
    job.never_reason = ""
    out.append(master.job_change(job))
    return True, out


def _set_predecessors(master: Master, who: Identity, job: Job, spec: JobSpec, lines: list[str],
                      array: bool = False) -> None:
    """-hold_jid (``array``: -hold_jid_ad) of qalter, with Grid Engine's answer."""
    found = resolve_predecessors(master, who, spec.hold_jids_ad if array else spec.hold_jids)
    found.discard(job.job_id)
    master.set_predecessors(job, found, array)
    blocking = ",".join(str(j) for j in sorted(found)) or "NONE"
    lines.append(f"modified job id hold {'array ' if array else ''}list of job {job.job_id}\n"
                 f"   blocking jobs: {blocking}\n   exited jobs:   NONE")


def _change_holds(who: Identity, job: Job, text: str, lines: list[str]) -> None:
    """``-h {u|o|s|n|U|O|S}...``: lower case sets, upper case removes, ``n`` removes all."""
    for letter in text:
        if letter == "n":
            if ({"o", "s"} & job.holds) and not who.privileged:
                raise InvalidRequest(f"{who.user} - you do not have the necessary privileges to modify "
                                     f'the hold of job "{job.job_id}"')
            job.set_holds(set())
            continue
        kind = letter.lower()
        if kind in ("o", "s") and not who.privileged:
            raise InvalidRequest(f"{who.user} - you do not have the necessary privileges to modify "
                                 f'the hold of job "{job.job_id}"')
        job.set_holds(job.holds | {kind} if letter.islower() else job.holds - {kind})
    lines.append(f"modified hold of job {job.job_id}")


class AlterRequests:
    def __init__(self, state: Master, snapshots: Snapshots) -> None:
        self.state = state
        self.snapshots = snapshots

    async def alter_job(self, who: Identity, msg: protocol.AlterJob) -> protocol.Lines:
        return await alter_job(self.state, self.snapshots, who, msg)


async def alter_job(master: Master, snapshots: Snapshots, who: Identity, msg: protocol.AlterJob) -> protocol.Lines:
    jobs, missing = _find(master, who, msg)
    lines = [f'denied: job "{text}" does not exist' for text in missing]
    failed = bool(missing)
    changes: list[Any] = []
    for job in jobs:
        try:
            ok, out = _alter_one(master, snapshots, who, job, msg, lines)
        except QsysError as exc:
            lines.append(exc.message)
            ok, out = False, []
        failed = failed or not ok
        changes.extend(out)
    if changes:
        await master.commit(changes)
        master.schedule_soon()
    return protocol.Lines(lines, 1 if failed else 0)
