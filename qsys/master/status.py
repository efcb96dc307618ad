"""The rows qstat and qhost print (``qsys.records``), built from the master's memory."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from qsys import protocol
from qsys.master import liveusage, rendering
from qsys.master.finished import FinishedJob
from qsys.master.pending_rows import TICKET_NAMES, Listing, PendingRows, RowMaker, common, order_of
from qsys.master.qstat_select import QueueSelection, selection
from qsys.master.rendering import master_zone
from qsys.master.snapshot import used_slots
from qsys.master.tasks import describe_runs
from qsys.master.urgency import Priorities, cluster_queue_summary, priorities, waiting_weight
from qsys.records import HostRow, JobDetail, JobRow, QueueInstanceRow, TaskDetail, TaskOutcome
from qsys.sched.scheduler import DEPENDENCIES as DEPENDENCIES_TEXT
from qsys.sched.scheduler import HELD as HELD_TEXT

if TYPE_CHECKING:
    from qsys.master.core import Master
    from qsys.master.identity import Identity
    from qsys.master.jobs import Job, Task
    from qsys.master.queue_states import QueueStates
    from qsys.sched.snapshot import JobPriority, Reservation


class WaitingReasons(Protocol):
    waiting_reasons: dict[int, list[str]]  # job id -> why the last pass left it pending


class PassFigures(Protocol):
    """What the last pass decided for the policies (``qsys.master.policies``)."""

    priorities: Mapping[int, JobPriority]
    running_tickets: dict[tuple[int, int], JobPriority]
    reservations: dict[int, Reservation]

    def ticket_config(self, now: float) -> Any: ...

    def department(self, job: Job) -> str: ...


def _task_row(job: Job, task: Task, prio: float) -> JobRow:
    master_q = task.master
    return JobRow(
        **common(job, prio),
        state=task.shown_state(),
        start_time=task.start_time or task.dispatch_time,
        queue=f"{master_q.queue}@{master_q.host}",
        slots=task.slots,
        tasks=str(task.task_id) if job.is_array else "",
        granted_pe=f"{task.pe} {task.slots}" if task.pe else None,
        master_queue=f"{master_q.queue}@{master_q.host}",
        usage=liveusage.shown(task) or None,
        slave_queues=[{"queue": f"{a.queue}@{a.host}", "slots": a.slots} for a in task.assignments[1:]],
    )


def _state_filter(row: JobRow, states: str) -> bool:
    """qstat -s: p pending, r running, s suspended, h held, z (and f) finished."""
    if row.state == "z":
        return bool(FINISHED_LETTERS & set(states))
    if not states:
        return True
    pending = not row.queue
    shown = row.state
    return (
        ("p" in states and pending)
        or ("r" in states and not pending and "s" not in shown.lower())
        or ("s" in states and not pending and "s" in shown.lower())
        or ("h" in states and "h" in shown)
        or ("a" in states)
    )


class StatusRequests:
    """qstat and qhost: jobs, queue instances, hosts, job details, cluster queues."""

    def __init__(self, state: Master, qstates: QueueStates, reasons: WaitingReasons,
                 policies: PassFigures | None = None) -> None:
        self.state = state
        self.qstates = qstates
        self.reasons = reasons
        self.policies = policies
        # a listing after a change remakes the pending rows' texts of the jobs that changed only
        self.rows = RowMaker(state, watch=True)

    def _job_rows(self, msg: protocol.JobsStatus, chosen: QueueSelection | None = None) -> list[JobRow]:
        return job_rows(self.state, self.qstates, msg, self.policies, chosen)

    def _listing(self, query: protocol.JobsStatus) -> tuple[list[JobRow], Listing] | None:
        """The running rows and the kept pending rows of a listing of jobs only (no -q/-l, -s
        or -urg: those are made from rows), None for the others."""
        if query.queues or query.resources or query.states or query.urgency:
            return None
        return job_listing(self.state, self.qstates, query, self.policies, self.rows)

    async def jobs(self, who: Identity, msg: protocol.JobsStatus) -> protocol.JobRows:
        return protocol.JobRows(self._job_rows(msg))

    async def queues(self, who: Identity, msg: protocol.JobsStatus) -> protocol.QueueRows:
        chosen = selection(self.state, self.qstates, msg)
        queues = queue_rows(self.state, self.qstates, self.policies)
        if chosen is not None:  # qstat -f -q/-l: only the selected queue instances
            queues = [q for q in queues if q.name in chosen.names]
        return protocol.QueueRows(queues, self._job_rows(msg, chosen))

    async def text(self, who: Identity, msg: protocol.StatusText) -> Any:
        """qstat's output, or the rows when the command's time zone is not surely the master's."""
        query = msg.query
        own_zone = bool(msg.zone) and msg.zone == master_zone()
        listing = self._listing(query) if own_zone else None
        if msg.full:
            if listing is not None:
                queues = queue_rows(self.state, self.qstates, self.policies)
                return protocol.StatusReply(rendering.full_text(queues, listing[0], msg, listing[1].entries))
            both = await self.queues(who, query)
            if not own_zone:
                return both
            return protocol.StatusReply(rendering.full_text(both.queues, both.jobs, msg))
        if listing is not None:
            running, kept = listing
            return protocol.StatusReply(rendering.jobs_text(running, msg, kept.entries, kept.texts))
        rows = self._job_rows(query)
        if not own_zone:
            return protocol.JobRows(rows)
        return protocol.StatusReply(rendering.jobs_text(rows, msg))

    async def hosts(self, who: Identity, msg: protocol.HostsStatus) -> protocol.HostRows:
        return protocol.HostRows(host_rows(self.state, self.qstates, self.policies))

    async def details(self, who: Identity, msg: protocol.JobDetails) -> protocol.JobDetailRows:
        return job_details(self.state, self.reasons, msg.job_ids, self.policies)

    async def cluster_queues(self, who: Identity, msg: protocol.ClusterQueuesStatus) -> protocol.ClusterQueueRows:
        return protocol.ClusterQueueRows(cluster_queue_summary(self.state, self.qstates,
                                                               reserved_slots(self.state, self.policies)))


def _ticket_figures(policies: PassFigures | None, now: float) -> tuple[
        Mapping[int, JobPriority] | None, Mapping[tuple[int, int], JobPriority] | None]:
    """The tickets of the last pass, None while no ticket policy is on."""
    if policies is None or policies.ticket_config(now) is None:
        return None, None
    return policies.priorities, policies.running_tickets


def _ticket_values(figure: JobPriority | None, ntckts: float, job: Job) -> tuple[float, ...]:
    """qstat -ext's ticket columns of one row (in the order of ``TICKET_NAMES``)."""
    fixed = (ntckts, float(job.spec.override_tickets), float(job.spec.job_share))
    if figure is None:
        return (*fixed, 0.0, 0.0, 0.0, 0.0, 0.0)
    return (*fixed, figure.tickets, figure.otickets, figure.ftickets, figure.stickets, figure.share)


def _task_number(task: Task) -> int:
    return task.task_id


def _wanted(msg: protocol.JobsStatus) -> frozenset[str] | None:
    """The users whose jobs are asked about, None for everyone's."""
    return None if not msg.users or "*" in msg.users else frozenset(msg.users)


def job_rows(master: Master, qstates: QueueStates, msg: protocol.JobsStatus,
             policies: PassFigures | None = None, chosen: QueueSelection | None = None) -> list[JobRow]:
    """qstat's rows: running tasks by job and task, then pending jobs by priority, then (-s z)
    finished jobs (all made now)."""
    if chosen is None:
        chosen = selection(master, qstates, msg)
    rows, listing = job_listing(master, qstates, msg, policies)
    for entry in listing.entries:
        rows += entry.rows()
    wanted = _wanted(msg)
    if FINISHED_LETTERS & set(msg.states):
        rows += [finished_row(entry) for entry in master.retained.visible(master.clock.now(), master.config)
                 if wanted is None or entry.owner in wanted]
    if msg.urgency and listing.figures is not None:  # qstat -urg / -pri
        for row in rows:
            row.urgency = listing.figures.figures(row.job_id)
    if chosen is not None:
        rows = [r for r in rows if chosen.shows(r, master.jobs.get(r.job_id))]
    if not msg.states:  # (finished rows come only with -s z)
        return rows
    return [r for r in rows if _state_filter(r, msg.states)]


def job_listing(master: Master, qstates: QueueStates, msg: protocol.JobsStatus,
                policies: PassFigures | None = None,
                maker: RowMaker | None = None) -> tuple[list[JobRow], Listing]:
    """The rows of the running tasks (made now) and the pending rows of each job by priority
    (kept: the very list of the last listing while no job, configuration or ticket changed)."""
    maker = maker or RowMaker(master)
    pending_tickets, running_tickets = _ticket_figures(policies, master.clock.now())
    now = master.clock.now() if waiting_weight(master) else None
    key = (msg.brief, _wanted(msg))
    listing = maker.listings.get(key, Listing(master, pending_tickets, running_tickets, now))
    if listing.figures is None:
        listing.figures = priorities(master, pending_tickets, running_tickets)
        listing.entries = _pending_part(master, msg, listing.figures, pending_tickets, policies, maker)
        maker.listings.keep(key, listing)
    return _running_part(master, qstates, msg, listing.figures, running_tickets, policies), listing


def _shown(master: Master, msg: protocol.JobsStatus) -> Iterable[Job]:
    """The jobs of the users asked about."""
    wanted = _wanted(msg)
    if wanted is None:
        return master.jobs.values()
    return (job for job in master.jobs.values() if job.owner in wanted)


def _running_part(master: Master, qstates: QueueStates, msg: protocol.JobsStatus, figures: Priorities,
                  running_tickets: Mapping[tuple[int, int], JobPriority] | None,
                  policies: PassFigures | None) -> list[JobRow]:
    """The rows of the running tasks (made each time: their state and usage move without
    their job changing)."""
    busy = [job for job in _shown(master, msg) if job.tasks]
    if not busy:
        return []
    states = qstates.compute()
    prios, ntckts_of = figures.prior, figures.ntckts
    brief = msg.brief
    running = []
    for job in busy:
        prio = prios.get(job.job_id, 0.0)
        ntckts = ntckts_of.get(job.job_id, 0.0)
        department = policies.department(job) if policies is not None and not brief else None
        for task in sorted(job.tasks.values(), key=_task_number):
            row = _task_row(job, task, prio)
            suspended = qstates.task_state(job, task, states)
            if suspended and row.state.endswith("r"):
                row.state = row.state[:-1] + suspended
            if not brief:
                held = running_tickets.get((job.job_id, task.task_id)) if running_tickets is not None else None
                values = _ticket_values(held, held.ntickets if held is not None else ntckts, job)
                row.tickets = dict(zip(TICKET_NAMES, values, strict=True))
            if department is not None:
                row.department = department
            running.append(row)
    running.sort(key=lambda r: (r.job_id, int(r.tasks or 0)))
    return running


def _pending_part(master: Master, msg: protocol.JobsStatus, figures: Priorities,
                  pending_tickets: Mapping[int, JobPriority] | None, policies: PassFigures | None,
                  maker: RowMaker) -> list[PendingRows]:
    """The pending rows by priority, then age (those of unchanged jobs as they were)."""
    prios, ntckts_of = figures.prior, figures.ntckts
    maker.sync()
    pending: list[PendingRows] = []
    if msg.brief:
        for job in _shown(master, msg):
            if job.pending:
                pending.append(maker.pending(job, prios.get(job.job_id, 0.0)))
    else:
        for job in _shown(master, msg):
            if job.pending:
                department = policies.department(job) if policies is not None else None
                figure = pending_tickets.get(job.job_id) if pending_tickets is not None else None
                tickets = _ticket_values(figure, ntckts_of.get(job.job_id, 0.0), job)
                pending.append(maker.pending(job, prios.get(job.job_id, 0.0), tickets, department))
    pending.sort(key=order_of)
    return pending


def reserved_slots(master: Master, policies: PassFigures | None) -> dict[tuple[str, str], int]:
    """Slots reserved per queue instance (the resv column): those of the advance
    reservations whose window is open and those the last pass planned for ``-R y`` jobs."""
    out: dict[tuple[str, str], int] = {}
    now = master.clock.now()
    for ar in master.ars.values():
        if ar.state == "r" and ar.start <= now < ar.end:
            for name, slots in ar.granted:
                queue, _, host = name.partition("@")
                out[(queue, host)] = out.get((queue, host), 0) + int(slots)
    for reservation in (policies.reservations.values() if policies is not None else ()):
        for a in reservation.assignments:
            out[(a.queue, a.host)] = out.get((a.queue, a.host), 0) + a.slots
    return out


def queue_rows(master: Master, qstates: QueueStates, policies: PassFigures | None = None) -> list[QueueInstanceRow]:
    rows = []
    used = used_slots(master.jobs.values())
    reserved = reserved_slots(master, policies)
    computed = qstates.compute()
    for qi in master.config.queue_instances(master.hosts):
        host = master.hosts.get(qi.host)
        states = computed.get(f"{qi.queue}@{qi.host}", qi.states)
        load = host.load.get("load_avg") if host is not None and host.up else None
        rows.append(QueueInstanceRow(
            name=f"{qi.queue}@{qi.host}",
            qtype=qi.qtype,
            reserved=reserved.get((qi.queue, qi.host), 0),
            used=used.get((qi.queue, qi.host), 0),
            total=qi.slots,
            load_avg=float(load) if load is not None else None,
            arch=host.arch if host is not None else "-",
            states=states,
            messages=qstates.messages(f"{qi.queue}@{qi.host}") if "E" in states else [],
        ))
    return rows


def host_rows(master: Master, qstates: QueueStates, policies: PassFigures | None = None) -> list[HostRow]:
    rows = []
    by_host: dict[str, list[QueueInstanceRow]] = {}
    maps = free_device_ids(master)
    for qrow in queue_rows(master, qstates, policies):
        by_host.setdefault(qrow.name.partition("@")[2], []).append(qrow)
    for name in sorted(master.hosts):
        host = master.hosts[name]
        load = host.load if host.up else {}
        mem_free = load.get("mem_free")
        swap_free = load.get("swap_free")
        rows.append(HostRow(
            name=name,
            arch=host.arch,
            ncpu=host.processors,
            nsoc=host.sockets,
            ncor=host.cores,
            nthr=host.threads,
            load=float(load["load_avg"]) if "load_avg" in load else None,
            mem_total=host.mem_total,
            mem_used=int(host.mem_total - float(mem_free)) if mem_free is not None else 0,
            swap_total=host.swap_total,
            swap_used=int(host.swap_total - float(swap_free)) if swap_free is not None else 0,
            load_values={k: str(v) for k, v in load.items()},
            queues=by_host.get(name, []),
            resources=maps.get(name, {}),
        ))
    return rows


def free_device_ids(master: Master) -> dict[str, dict[str, str]]:
    """Per host, its resource maps as qhost -F shows them: the ids no running task holds,
    ``gpu`` -> ``1(1)`` (how many are free, which)."""
    from qsys.objects.resource_map import map_ids

    config = master.config
    names = [row.name for row in config.complex_list.complexes if row.type == "RSMAP"]
    if not names:
        return {}
    held: dict[tuple[str, str], list[str]] = {}
    for job in master.jobs.values():
        for task in job.tasks.values():
            for a in task.assignments:
                for name, ids in a.devices.items():
                    held.setdefault((a.host, name), []).extend(ids)
    out: dict[str, dict[str, str]] = {}
    for host, conf in config.exec_hosts.items():
        for name in names:
            if name not in conf.complex_values:
                continue
            free = map_ids(conf.complex_values[name])
            for used in held.get((host, name), []):
                if used in free:
                    free.remove(used)
            out.setdefault(host, {})[name] = f"{len(free)}({' '.join(free)})" if free else "0"
    return out


def job_details(master: Master, reasons: WaitingReasons, job_ids: list[str],
                policies: PassFigures | None = None) -> protocol.JobDetailRows:
    details, missing = [], []
    finished = master.retained.visible(master.clock.now(), master.config)
    for text in job_ids:
        matched = [master.jobs[int(text)]] if text.isdigit() and int(text) in master.jobs else [
            job for job in master.jobs.values() if not text.isdigit() and job.name == text
        ]
        ended = [] if matched else [e for e in finished if (str(e.job_id) == text if text.isdigit() else e.name == text)]
        if not matched and not ended:
            missing.append(text)
        for job in matched:
            details.append(_detail(master, reasons, job, policies))
        details.extend(finished_detail(entry) for entry in ended)
    return protocol.JobDetailRows(details, missing)


JOB_INFO_OFF = "(Collecting of scheduler job information is turned off)"


ALL_FULL = "All queues dropped because of overload or full"


def _all_full(master: Master, info: list[str]) -> bool:
    """Did every queue instance drop out full or overloaded (Grid Engine then says so once)?"""
    dropped = {line.split('"')[1] for line in info if line.startswith('queue instance "') and
               (line.endswith("dropped because it is full") or "dropped because it is overloaded" in line)}
    names = {f"{qi.queue}@{qi.host}" for qi in master.config.queue_instances(master.hosts)}
    return bool(names) and names <= dropped


def scheduling_info(master: Master, reasons: WaitingReasons, job: Job) -> list[str]:
    """qstat -j's ``scheduling info:`` lines: why the last pass left the job waiting, and why
    it can never run; none while ``schedd_job_info`` is false (or the job is not in its
    job_list)."""
    setting = master.config.sconf.schedd_job_info.strip()
    mode, _, listed = setting.partition(" ")
    if mode.lower() == "false" or (mode.lower() == "job_list" and str(job.job_id) not in
                                   listed.replace(",", " ").split()):
        return [JOB_INFO_OFF]
    info = list(reasons.waiting_reasons.get(job.job_id, ()))
    if info and _all_full(master, info):
        info.append(ALL_FULL)
    if not info:  # not seen by a pass yet
        if job.holds or job.error:
            info.append(HELD_TEXT)
        elif job.predecessors or job.ad_predecessors:
            info.append(DEPENDENCIES_TEXT)
    if job.never_reason and job.never_reason not in info:
        info.append(job.never_reason)
    return info


def _detail(master: Master, reasons: WaitingReasons, job: Job, policies: PassFigures | None = None) -> JobDetail:
    info = scheduling_info(master, reasons, job) if job.pending else []
    spec = job.spec.to_wire()
    spec.pop("script", None)
    return JobDetail(
        job_id=job.job_id,
        spec=spec,
        owner=job.owner,
        uid=job.uid,
        group=job.group,
        gid=job.gid,
        submit_time=job.submit_time,
        state=job.pending_state() if job.pending else "r",
        pending_tasks=job.pending.describe() if job.is_array and job.pending else "",
        tasks=[TaskDetail(t.task_id, t.shown_state(), f"{t.master.queue}@{t.master.host}", t.start_time,
                          liveusage.shown(t)) for t in sorted(job.tasks.values(), key=lambda t: t.task_id)],
        scheduling_info=info,
        error_reason=job.error,
        predecessors=sorted(job.predecessors),
        successors=sorted(j for j in master.successors.get(job.job_id, ())
                          if j in master.jobs and job.job_id in master.jobs[j].predecessors),
        ad_predecessors=sorted(job.ad_predecessors),
        ad_successors=sorted(j for j in master.successors.get(job.job_id, ())
                             if j in master.jobs and job.job_id in master.jobs[j].ad_predecessors),
        **_policy_details(master, job, policies),
    )


def _policy_details(master: Master, job: Job, policies: PassFigures | None) -> dict[str, Any]:
    """qstat -j's lines of the policies: tickets, the reservation, resource map ids."""
    out: dict[str, Any] = {}
    devices = {str(t.task_id): [f"{name}={a.host}=({' '.join(ids)})" for a in t.assignments
                                for name, ids in a.devices.items()]
               for t in job.tasks.values() if any(a.devices for a in t.assignments)}
    if devices:
        out["devices"] = devices
    if policies is None:
        return out
    pending, running = _ticket_figures(policies, master.clock.now())
    figure = pending.get(job.job_id) if pending is not None and job.pending else None
    if figure is None and running is not None:
        figure = next((f for (j, _), f in sorted(running.items()) if j == job.job_id), None)
    if figure is not None:
        out["tickets"] = {"ntckts": figure.ntickets, "tckts": figure.tickets, "otckt": figure.otickets, "ftckt": figure.ftickets,
                          "stckt": figure.stickets, "share": figure.share}
    reservation = policies.reservations.get(job.job_id)
    if reservation is not None:
        out["reservation"] = {"start": reservation.start, "end": reservation.end,
                              "slots": [[f"{a.queue}@{a.host}", a.slots] for a in reservation.assignments]}
    return out


# ---------------------------------------------------------------- finished jobs (qstat -s z)

FINISHED_LETTERS = frozenset("zf")  # -s z (Grid Engine's zombies), -s f (Open Cluster Scheduler's)


def _outcomes(entry: FinishedJob) -> list[TaskOutcome]:
    out = []
    for item in sorted(entry.outcomes, key=lambda o: o["ranges"][0][0] if o["ranges"] else 0):
        exit_status, sig, failed, deleted = item["key"]
        tasks = describe_runs(item["ranges"], entry.step, pairs=False) if entry.is_array else ""
        out.append(TaskOutcome(tasks, exit_status, sig, failed, bool(deleted), item["start"], item["end"]))
    return out


def finished_row(entry: FinishedJob) -> JobRow:
    """A finished job's qstat line (state z, as Grid Engine shows its zombies)."""
    return JobRow(job_id=entry.job_id, priority=0.0, name=entry.name, owner=entry.owner, state="z",
                  submit_time=entry.submit_time, start_time=None, queue="", slots=entry.slots,
                  tasks=describe_runs(entry.task_runs(), entry.step, pairs=False) if entry.is_array else "",
                  is_array=entry.is_array, project=entry.spec.get("project"),
                  checkpoint=entry.spec.get("checkpoint"), outcomes=_outcomes(entry))


def finished_detail(entry: FinishedJob) -> JobDetail:
    """qstat -j of a finished job: its requests, and how and when its tasks ended."""
    return JobDetail(job_id=entry.job_id, spec=dict(entry.spec), owner=entry.owner, uid=entry.uid,
                     group=entry.group, gid=entry.gid, submit_time=entry.submit_time, state="z",
                     outcomes=_outcomes(entry), end_time=entry.end_time)
