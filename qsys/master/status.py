"""The rows qstat and qhost print (``qsys.records``), built from the master's memory."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from qsys import protocol
from qsys.master import liveusage, rendering
from qsys.master.arraydeps import split_pending, waiting_test
from qsys.master.finished import FinishedJob
from qsys.master.qstat_select import QueueSelection, selection
from qsys.master.rendering import master_zone
from qsys.master.snapshot import used_slots
from qsys.master.tasks import describe_ids, describe_runs
from qsys.master.urgency import Priorities, cluster_queue_summary, priorities, waiting_weight
from qsys.record import maker, replace
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


def _common(job: Job, prio: float) -> dict[str, Any]:
    spec = job.spec
    row = {
        "job_id": job.job_id,
        "priority": prio,
        "name": job.name,
        "owner": job.owner,
        "submit_time": job.submit_time,
        "is_array": job.is_array,
    }
    row.update({
        "hard_resources": dict(spec.hard_resources),
        "soft_resources": dict(spec.soft_resources),
        "hard_queues": list(spec.hard_queues),
        "soft_queues": list(spec.soft_queues),
        "requested_pe": str(spec.pe) if spec.pe else None,
        "hold_jids": list(spec.hold_jids),
        "hold_jids_ad": list(spec.hold_jids_ad),
        "predecessors": sorted(job.predecessors),
        "ad_predecessors": sorted(job.ad_predecessors),
        "checkpoint": spec.checkpoint,
        "project": spec.project,
    })
    return row


def _task_row(job: Job, task: Task, prio: float) -> JobRow:
    master_q = task.master
    return JobRow(
        **_common(job, prio),
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


def _pending_row(job: Job, prio: float, brief: bool) -> JobRow:
    """A pending job's row (the hot part of qstat: brief rows carry no extras, and are made
    without the maps of keywords of the others)."""
    spec = job.spec
    is_array = spec.tasks is not None
    if brief:
        return _MAKE_ROW({"job_id": job.job_id, "priority": prio, "name": spec.name, "owner": job.owner,
                          "state": job.pending_state(), "submit_time": job.submit_time, "start_time": None,
                          "queue": "", "slots": spec.slots_requested(),
                          "tasks": job.pending.describe() if is_array else "", "is_array": is_array})
    return JobRow(**_common(job, prio), state=job.pending_state(), start_time=None, queue="",
                  slots=spec.slots_requested(), tasks=job.pending.describe() if is_array else "")


_MAKE_ROW = maker(JobRow)


def _rerun(job: Job) -> bool:
    """Are some of the job's pending tasks reruns (Rq)?"""
    return bool(job.restarts) and any(t in job.pending for t in job.restarts)


def _pending_rows(master: Master, job: Job, prio: float, brief: bool) -> list[JobRow]:
    """The pending part of a job: one row, or two when some of its array tasks wait for a
    -hold_jid_ad predecessor task (those show hqw, as in Grid Engine)."""
    prow = _pending_row(job, prio, brief)
    if prow.state == "qw" and _rerun(job):
        prow.state = "Rq"
    waits = waiting_test(master, job) if job.ad_predecessors else None
    if waits is None:
        return [prow]
    rows = []
    for ids, waiting in zip(split_pending(job, waits), (False, True), strict=True):
        if ids:
            row = replace(prow, tasks=describe_ids(ids))
            if waiting and row.state in ("qw", "Rq"):
                row.state = "hqw"
            rows.append(row)
    return rows


MAX_LISTINGS = 64  # kinds of listing kept (brief or not, by users asked about)


class _Kept:
    """A job's pending rows and what they were made from."""

    __slots__ = ("job", "key", "order", "rows")

    def __init__(self, job: Job, key: tuple[Any, ...], order: tuple[float, float, int], rows: list[JobRow]) -> None:
        self.job = job
        self.key = key
        self.order = order  # where they stand among the pending rows: by priority, then age
        self.rows = rows


def _order(kept: _Kept) -> tuple[float, float, int]:
    return kept.order


class RowMaker:
    """The pending rows of each job, made again only when something they show changed, so
    that the rows of an unchanged job are the same objects from one listing to the next
    (``rendering.KeptLines`` keeps their texts by that).

    What a pending row shows is its job's (a spec is replaced, never changed in place: its
    identity stands for the requests, name and slots), its state, its pending tasks, its
    priority and, for the full rows, its tickets and department. A job waiting for array
    tasks (-hold_jid_ad) is made each time: its rows show other jobs' progress."""

    def __init__(self) -> None:
        self._kept: tuple[dict[int, _Kept], dict[int, _Kept]] = ({}, {})  # full rows, brief rows
        self._listings: dict[Hashable, _Listing] = {}  # by brief and users

    def listing(self, key: Hashable, now: _Listing, master: Master) -> _Listing:
        """The listing kept for ``key`` if it was made from what ``now`` holds, else ``now``
        (its caller fills in its figures and rows, and keeps it). While only the clock moved
        the priorities are made again: the rows stay if they show the same ones."""
        kept = self._listings.get(key)
        if kept is None or kept.figures is None or not kept.same(now):
            return now
        if kept.figures.timed and kept.now != now.now:
            figures = priorities(master, now.tickets, now.running_tickets)
            if not figures.same(kept.figures):
                return now
            kept.now = now.now
        return kept

    def keep(self, key: Hashable, listing: _Listing) -> None:
        if len(self._listings) >= MAX_LISTINGS:
            self._listings.clear()
        self._listings[key] = listing

    def pending(self, master: Master, job: Job, prio: float, tickets: dict[str, float] | None = None,
                department: str | None = None) -> _Kept:
        """The pending rows of ``job``: brief ones without ``tickets`` (full rows have them)."""
        brief = tickets is None
        kept = self._kept[brief]
        key: tuple[Any, ...] = (prio, job.spec, job.pending_state(), _rerun(job),
                                job.pending.describe() if job.spec.tasks is not None else len(job.pending))
        if tickets is not None:
            key += (tuple(tickets.values()), department, tuple(job.predecessors))
        entry = kept.get(job.job_id)
        if entry is not None and entry.job is job and entry.key == key and not job.ad_predecessors:
            return entry
        rows = _pending_rows(master, job, prio, brief)
        for row in rows if tickets is not None else ():
            row.tickets = tickets
            if department is not None:
                row.department = department
        entry = _Kept(job, key, (-prio, job.submit_time, job.job_id), rows)
        if len(kept) > 2 * len(master.jobs) + 64:  # jobs gone since: their rows go
            self._forget(master, kept)
        kept[job.job_id] = entry
        return entry

    @staticmethod
    def _forget(master: Master, kept: dict[int, _Kept]) -> None:
        jobs = master.jobs
        for job_id in [j for j, entry in kept.items() if jobs.get(j) is not entry.job]:
            del kept[job_id]


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
        # a listing after a change remakes the rows and texts of the jobs that changed only
        self.rows = RowMaker()
        self.lines = rendering.KeptLines()

    def _job_rows(self, msg: protocol.JobsStatus, chosen: QueueSelection | None = None) -> list[JobRow]:
        return job_rows(self.state, self.qstates, msg, self.policies, chosen, self.rows)

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
        if msg.full:
            queues = await self.queues(who, query)
            if not own_zone:
                return queues
            return protocol.StatusReply(rendering.full_text(queues.queues, queues.jobs, msg, self.lines))
        rows = self._job_rows(query)
        if not own_zone:
            return protocol.JobRows(rows)
        return protocol.StatusReply(rendering.jobs_text(rows, msg, self.lines))

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


def _ticket_columns(figure: JobPriority | None, ntckts: float, job: Job) -> dict[str, float]:
    """qstat -ext's ticket columns of one row."""
    fixed = {"ntckts": ntckts, "ovrts": float(job.spec.override_tickets), "jobshare": float(job.spec.job_share)}
    if figure is None:
        return {**fixed, "tckts": 0.0, "otckt": 0.0, "ftckt": 0.0, "stckt": 0.0, "share": 0.0}
    return {**fixed, "tckts": figure.tickets, "otckt": figure.otickets, "ftckt": figure.ftickets,
            "stckt": figure.stickets, "share": figure.share}


def _task_number(task: Task) -> int:
    return task.task_id


class _Listing:
    """What the pending rows of one kind of listing (brief or full, whose jobs) were made
    from, the priorities they show and the rows themselves (a list never changed after)."""

    __slots__ = ("job_changes", "generation", "tickets", "running_tickets", "now", "figures", "rows")

    def __init__(self, master: Master, tickets: Any, running_tickets: Any, now: float | None) -> None:
        self.job_changes = master.job_changes
        self.generation = master.config.generation
        self.tickets = tickets
        self.running_tickets = running_tickets
        self.now = now  # (the waiting time moves the priorities, if weighed)
        self.figures: Priorities | None = None
        self.rows: list[JobRow] = []

    def same(self, other: _Listing) -> bool:
        """Were both made from the same jobs, configuration and tickets?"""
        return (self.job_changes == other.job_changes and self.generation == other.generation
                and self.tickets is other.tickets and self.running_tickets is other.running_tickets)


def _wanted(msg: protocol.JobsStatus) -> frozenset[str] | None:
    """The users whose jobs are asked about, None for everyone's."""
    return None if not msg.users or "*" in msg.users else frozenset(msg.users)


def _users_key(msg: protocol.JobsStatus) -> tuple[bool, frozenset[str] | None]:
    return msg.brief, _wanted(msg)


def job_rows(master: Master, qstates: QueueStates, msg: protocol.JobsStatus,
             policies: PassFigures | None = None, chosen: QueueSelection | None = None,
             maker: RowMaker | None = None) -> list[JobRow]:
    """qstat's rows: running tasks by job and task, then pending jobs by priority (``maker``:
    the pending rows kept from the last listing; -urg and -pri rows are made anew, since
    their figures are added to them). The list returned is not to be changed: it may be the
    one of the last listing (while no job changed, all of it is)."""
    if maker is None or msg.urgency:
        maker = RowMaker()
    if chosen is None:
        chosen = selection(master, qstates, msg)
    pending_tickets, running_tickets = _ticket_figures(policies, master.clock.now())
    now = master.clock.now() if waiting_weight(master) else None
    listing = maker.listing(_users_key(msg), _Listing(master, pending_tickets, running_tickets, now), master)
    if listing.figures is None:
        listing.figures = priorities(master, pending_tickets, running_tickets)
        listing.rows = _pending_part(master, msg, listing.figures, pending_tickets, policies, maker)
        maker.keep(_users_key(msg), listing)
    figures = listing.figures
    running = _running_part(master, qstates, msg, figures, running_tickets, policies)
    rows = running + listing.rows if running else listing.rows
    wanted = _wanted(msg)
    if FINISHED_LETTERS & set(msg.states):
        rows = rows + [finished_row(entry) for entry in master.retained.visible(master.clock.now(), master.config)
                       if wanted is None or entry.owner in wanted]
    if msg.urgency:  # qstat -urg / -pri (rows of their own: see above)
        for row in rows:
            row.urgency = figures.figures(row.job_id)
    if chosen is not None:
        rows = [r for r in rows if chosen.shows(r, master.jobs.get(r.job_id))]
    if not msg.states:  # (finished rows come only with -s z)
        return rows
    return [r for r in rows if _state_filter(r, msg.states)]


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
                row.tickets = _ticket_columns(held, held.ntickets if held is not None else ntckts, job)
            if department is not None:
                row.department = department
            running.append(row)
    running.sort(key=lambda r: (r.job_id, int(r.tasks or 0)))
    return running


def _pending_part(master: Master, msg: protocol.JobsStatus, figures: Priorities,
                  pending_tickets: Mapping[int, JobPriority] | None, policies: PassFigures | None,
                  maker: RowMaker) -> list[JobRow]:
    """The pending rows by priority, then age (those of unchanged jobs as they were)."""
    prios, ntckts_of = figures.prior, figures.ntckts
    pending: list[_Kept] = []
    if msg.brief:
        for job in _shown(master, msg):
            if job.pending:
                pending.append(maker.pending(master, job, prios.get(job.job_id, 0.0)))
    else:
        for job in _shown(master, msg):
            if job.pending:
                department = policies.department(job) if policies is not None else None
                figure = pending_tickets.get(job.job_id) if pending_tickets is not None else None
                tickets = _ticket_columns(figure, ntckts_of.get(job.job_id, 0.0), job)
                pending.append(maker.pending(master, job, prios.get(job.job_id, 0.0), tickets, department))
    pending.sort(key=_order)
    rows: list[JobRow] = []
    for entry in pending:
        rows += entry.rows
    return rows


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
