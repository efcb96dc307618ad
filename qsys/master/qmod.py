"""qmod and qselect in the master: queue instance states, job suspension, error clearing,
rescheduling -- with Grid Engine's messages, one line per queue instance or job.

Operators and managers act on queues and on any job; users only on their own jobs.
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, Any

from qsys import protocol
from qsys.errors import InvalidRequest
from qsys.master.configcache import pairs
from qsys.master.queue_states import QueueStates, order_states
from qsys.master.reschedule import lost_run, pushed_line, rerunnable
from qsys.master.tasks import parse_job_target
from qsys.store import StoreError

if TYPE_CHECKING:
    from qsys.master.core import HeldLink, Master, TaskEndSink
    from qsys.master.identity import Identity
    from qsys.master.jobs import Job, Task

_JOB_TARGET = re.compile(r"^\d+(\.\d+(-\d+(:\d+)?)?)?$")

# action -> (state letter, the word GE prints, whether the action sets the letter)
_QUEUE_ACTIONS: dict[str, tuple[str, str, bool]] = {
    "disable": ("d", "disabled", True),
    "enable": ("d", "enabled", False),
    "suspend": ("s", "suspended", True),
    "unsuspend": ("s", "unsuspended", False),
    "clear": ("E", "no error", False),
}


def instances_matching(master: Master, pattern: str) -> list[tuple[str, str]]:
    """(queue, host) of every instance ``pattern`` names: ``q``, ``q@host``, ``*@node*``,
    ``q@@hostgroup``."""
    qpart, at, hpart = pattern.partition("@")
    qpart = qpart or "*"
    groups = getattr(master.config, "hostgroups", {}) or {}
    out = []
    for qi in master.config.queue_instances(master.hosts):
        if not fnmatch.fnmatchcase(qi.queue, qpart):
            continue
        if at and hpart:
            if hpart.startswith("@"):
                members = _group_hosts(groups, hpart)
                if qi.host not in members:
                    continue
            elif not fnmatch.fnmatchcase(qi.host.lower(), hpart.lower()):
                continue
        out.append((qi.queue, qi.host))
    return out


def _group_hosts(groups: dict[str, Any], name: str, depth: int = 0) -> set[str]:
    group = groups.get(name)
    if group is None or depth > 20:
        return set()
    hosts: set[str] = set()
    for item in getattr(group, "hostlist", None) or []:
        if item.startswith("@"):
            hosts |= _group_hosts(groups, item, depth + 1)
        else:
            hosts.add(item)
    return hosts


class _Run:
    """One qmod request: collects reply lines and store changes."""

    def __init__(self, master: Master, qstates: QueueStates, link: HeldLink, who: Identity,
                 msg: protocol.QueueAction) -> None:
        self.master, self.qstates, self.link, self.who, self.msg = master, qstates, link, who, msg
        self.lines: list[str] = []
        self.changes: list[Any] = []
        self.failed = False
        self.unreachable: list[tuple[Job, Task]] = []  # to reschedule at once: their host is unknown
        self.rescheduling: set[tuple[int, int]] = set()  # killed to run again (undone if refused)

    # ------------------------------------------------------------ queues

    def queue(self, pattern: str) -> None:
        matched = instances_matching(self.master, pattern)
        if not matched:
            kind = "queue or job" if self.msg.jobs is None else "queue"
            self.lines.append(f'invalid {kind} "{pattern}"')
            self.failed = True
            return
        for queue, host in matched:
            name = f"{queue}@{host}"
            if not self.who.privileged:
                self.lines.append(f'{self.who.user} - you have no permission to modify queue "{name}"')
                self.failed = True
                continue
            if self.msg.action == "reschedule":
                for job, task in self._tasks_in(queue, host):
                    self.reschedule(job, task, force=self.msg.force)
                continue
            letter, word, setting = _QUEUE_ACTIONS[self.msg.action]
            current = self.qstates.manual.get(name, "")
            if (letter in current) == setting:
                self.lines.append(f'Queue instance "{name}" is already in the specified state: {word}')
                continue
            letters = set(current)
            if setting:
                letters.add(letter)
            else:
                letters.discard(letter)
            self.qstates.manual[name] = order_states(letters)
            self.changes.append(self.qstates.manual_change(name))
            self.lines.append(f'{self.who.user}@{self.who.host} changed state of "{name}" ({word})')

    def _tasks_in(self, queue: str, host: str) -> list[tuple[Job, Task]]:
        out = []
        for job in sorted(self.master.jobs.values(), key=lambda j: j.job_id):
            for task in sorted(job.tasks.values(), key=lambda t: t.task_id):
                if any(a.queue == queue and a.host == host for a in task.assignments):
                    out.append((job, task))
        return out

    # ------------------------------------------------------------ jobs

    def job(self, text: str) -> None:
        parsed = parse_job_target(text)
        job = self.master.jobs.get(parsed[0]) if parsed else None
        if job is None:
            kind = "queue or job" if self.msg.jobs is None else "job"
            self.lines.append(f'invalid {kind} "{text}"' if kind != "job" else f'denied: job "{text}" does not exist')
            self.failed = True
            return
        assert parsed is not None
        if job.owner != self.who.user and not self.who.privileged:
            self.lines.append(f'{self.who.user} - you have no permission to modify job "{job.job_id}"')
            self.failed = True
            return
        wanted = parsed[1]
        action = self.msg.action
        if action == "clear":
            self.clear(job)
            return
        tasks = [t for t in sorted(job.tasks.values(), key=lambda t: t.task_id)
                 if wanted is None or t.task_id in wanted]
        if action == "reschedule":
            if not tasks:
                self.lines.append(f"{self.who.user} - job {job.job_id} is not running")
                self.failed = True
            for task in tasks:
                self.reschedule(job, task, force=self.msg.force)
            return
        if action not in ("suspend", "unsuspend"):
            self.lines.append(f'invalid queue "{text}"')
            self.failed = True
            return
        if not tasks:
            verb = "suspend" if action == "suspend" else "unsuspend"
            self.lines.append(f"{self.who.user} - can't {verb} job {job.job_id}")
            self.failed = True
            return
        for task in tasks:
            self.suspend(job, task, action == "suspend")

    def _label(self, job: Job, task: Task) -> str:
        return f"job-array task {job.job_id}.{task.task_id}" if job.is_array else f"job {job.job_id}"

    def suspend(self, job: Job, task: Task, on: bool) -> None:
        key = (job.job_id, task.task_id)
        group = self.qstates.job_suspended
        label = self._label(job, task)
        if on == (key in group) and not self.msg.force:
            state = "suspended" if on else "unsuspended"
            self.lines.append(f"{self.who.user} - {label} is already {state}")
            return
        if on:
            group.add(key)
            verb = "forced suspension of" if self.msg.force else "suspended"
            self.lines.append(f"{self.who.user} - {verb} {label}")
        else:
            group.discard(key)
            if self.msg.force:
                self.lines.append(f"{self.who.user}@{self.who.host} forced unsuspension of {label}")
            else:
                self.lines.append(f"{self.who.user} - unsuspended {label}")
        self.changes.append(self.qstates.jobs_change())

    def clear(self, job: Job) -> None:
        if not job.error:
            self.lines.append(f"Job {job.job_id} is not in error state")
            return
        job.error = ""
        self.changes.append(self.master.job_change(job))
        self.lines.append(f"{self.who.user}@{self.who.host} cleared error state of job {job.job_id}")

    def reschedule(self, job: Job, task: Task, force: bool) -> None:
        """Kill a running task on its host and put it back to pending (shown Rq, then Rr)."""
        label = self._label(job, task)
        if task.deleting:
            self.lines.append(f"{self.who.user} - {label} is already in deletion")
            return
        if not rerunnable(self.master.config, job, task) and not force:
            self.lines.append(f"{self.who.user} - {label} is not rerunable, use -f to force its rescheduling")
            self.failed = True
            return
        self.lines.append(pushed_line(job, task, force))
        entry = self.master.hosts.get(task.master.host)
        if entry is None or not entry.up:
            self.unreachable.append((job, task))  # pending again now; killed there when it returns
            return
        self.qstates.rescheduling.add((job.job_id, task.task_id))
        self.rescheduling.add((job.job_id, task.task_id))
        for host in dict.fromkeys(a.host for a in task.assignments):
            self.link.send(host, protocol.KillJob(job.job_id, task.task_id, 9))


class QueueRequests:
    """qmod and qselect."""

    def __init__(self, state: Master, qstates: QueueStates, link: HeldLink, ends: TaskEndSink) -> None:
        self.state = state
        self.qstates = qstates
        self.link = link
        self.ends = ends

    async def queue_action(self, who: Identity, msg: protocol.QueueAction) -> protocol.Lines:
        return await queue_action(self.state, self.qstates, self.link, who, msg, self.ends)

    async def select_queues(self, who: Identity, msg: protocol.SelectQueues) -> protocol.Names:
        return protocol.Names(select(self.state, self.qstates, msg))


async def queue_action(master: Master, qstates: QueueStates, link: HeldLink, who: Identity,
                       msg: protocol.QueueAction, ends: TaskEndSink) -> protocol.Lines:
    if msg.action not in _QUEUE_ACTIONS and msg.action != "reschedule":
        raise InvalidRequest(f"unknown qmod action {msg.action[:40]!r}")
    run = _Run(master, qstates, link, who, msg)
    with link.holding() as kills:  # the hosts hear of it once it is durable
        for target in msg.targets:
            is_job = msg.jobs if msg.jobs is not None else bool(_JOB_TARGET.match(target))
            if is_job:
                run.job(target)
            else:
                run.queue(target)
    try:
        if run.changes:
            await master.commit(run.changes)
    except StoreError:
        qstates.rescheduling.difference_update(run.rescheduling)
        raise
    link.deliver(kills)
    for job, task in run.unreachable:
        await ends.task_finished(job, task, lost_run())
    await qstates.reconcile_and_commit()
    master.schedule_soon()
    return protocol.Lines(run.lines, 1 if run.failed else 0)


# ---------------------------------------------------------------- qselect


def _offer(master: Master, qstates: QueueStates, queue: str, host: str, name: str) -> str | None:
    config = master.config
    if name == "hostname":
        return host
    if name == "qname":
        return queue
    for key, value in pairs(config.queue_attr(queue, "complex_values", host)):
        if key == name:
            return value
    if name in ("slots", "seq_no", "h_rt", "s_rt", "h_cpu", "s_cpu", "h_vmem", "s_vmem", "tmpdir", "rerun"):
        return config.queue_attr(queue, name, host)
    loaded = qstates.host_value(host, name)
    if loaded is not None:
        return loaded
    entry = master.hosts.get(host)
    if entry is not None and name == "arch":
        return entry.arch
    if entry is not None and name == "num_proc":
        return str(entry.processors)
    return None


def select(master: Master, qstates: QueueStates, filters: protocol.SelectQueues) -> list[str]:
    """Queue instance names that pass every filter of qselect."""
    from qsys.sched.values import compare

    config = master.config
    states = qstates.compute()
    queues, resources, pes = filters.queues, filters.resources, filters.pes
    wanted_states, users = filters.states, filters.users
    out = []
    for qi in config.queue_instances(master.hosts):
        name = f"{qi.queue}@{qi.host}"
        if queues and not any((qi.queue, qi.host) in instances_matching(master, p) for p in queues):
            continue
        if pes:
            mine = pairs(config.queue_attr(qi.queue, "pe_list", qi.host))
            if not any(fnmatch.fnmatchcase(pe, want) for pe, _ in mine for want in pes):
                continue
        if wanted_states and not any(c in states.get(name, "") for c in wanted_states):
            continue
        if users and not all(
            qstates.user_allowed(u, config.queue_attr(qi.queue, "user_lists", qi.host),
                                        config.queue_attr(qi.queue, "xuser_lists", qi.host)) for u in users):
            continue
        ok = True
        for req, value in resources.items():
            cdef = config.resolve_complex(req)
            offer = _offer(master, qstates, qi.queue, qi.host, cdef.name if cdef is not None else req)
            if offer is None or cdef is None:
                ok = False
                break
            try:
                ok = compare(cdef.type, cdef.relop, value, offer)
            except Exception:
                ok = False
            if not ok:
                break
        if ok:
            out.append(name)
    return out
