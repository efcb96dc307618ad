"""The master's side of the scheduling policies: what a snapshot gets for them, and what a
pass's decision leaves for qstat.

:meth:`MasterPolicies.fill` completes a snapshot (``qsys.master.snapshot``) with the inputs
of the policies that are on -- each field keeps its neutral default while its policy is off,
so a cell without policies schedules exactly as before:

* running tasks (owner, project, department, slots, start, run-time limit, advance
  reservation) for quotas, reservations, advance reservations and tickets;
* the resource map ids running tasks hold, per host;
* ``max_reservation``, ``default_duration`` and ``DURATION_OFFSET`` (sched_conf ``params``);
* the enabled resource quota sets, access lists and the owners' Unix groups;
* the advance reservations;
* the ticket configuration (``TicketConfig``) when a ticket weight or any override ticket is
  not zero: weights, the share tree, functional shares and override tickets of users,
  projects and departments, and the decayed usage the master keeps.

:meth:`MasterPolicies.observe` keeps what the last pass decided: the priorities of pending
jobs and the tickets of running tasks (qstat -ext, -pri, -j) and the reservations (qstat -j,
-g c, -f).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from qsys import sched
from qsys.master.advance import snaps as reservation_snaps
from qsys.master.config import split_list
from qsys.master.unixgroups import unix_groups
from qsys.objects.userset import DEFAULT_DEPARTMENT, department_of
from qsys.sched.reservation import run_time
from qsys.sched.snapshot import JobPriority, ObjectShares, Reservation, TicketConfig

if TYPE_CHECKING:
    from qsys.master.core import Master
    from qsys.master.jobs import Job
    from qsys.master.shareusage import ShareUsage

DEFAULT_OFFSET = 60.0  # sched_conf params DURATION_OFFSET


def sched_params(text: str) -> dict[str, str]:
    """sched_conf ``params`` (``MONITOR=1,DURATION_OFFSET=120``) as a map."""
    out = {}
    for item in split_list(text):
        name, _, value = item.partition("=")
        out[name.upper()] = value
    return out


def _float(text: str, default: float) -> float:
    try:
        return float(text)
    except ValueError:
        return default


class MasterPolicies:
    def __init__(self, state: Master, usage: ShareUsage) -> None:
        self.state = state
        self.usage = usage
        self._departments: dict[str, str] = {}
        self._departments_for = -1  # the configuration generation they were worked out for
        self._tickets: TicketConfig | None = None
        self._tickets_for: tuple[int, int, bool] | None = None
        # what the last pass decided
        self.priorities: Mapping[int, JobPriority] = {}
        self.running_tickets: dict[tuple[int, int], JobPriority] = {}
        self.reservations: dict[int, Reservation] = {}  # job -> its reservation
        # told when a job of an advance reservation ends (a deleted reservation waits for them)
        self.ar_job_ended: Callable[[], None] | None = None

    # ------------------------------------------------------------ into the snapshot

    def department(self, job: Job) -> str:
        """The job owner's department (a user set of type DEPT), ``defaultdepartment`` if none."""
        config = self.state.config
        if self._departments_for != config.generation:
            self._departments, self._departments_for = {}, config.generation
        found = self._departments.get(job.owner)
        if found is None:
            found = self._departments[job.owner] = department_of(job.owner, unix_groups(job.owner),
                                                                 config.usersets.values())
        return found

    def fill(self, snap: sched.Snapshot, *, running: bool = False) -> None:
        """The policies' inputs of ``snap`` (see the module's text); ``running``: the running
        tasks even when no policy asks for them (granting an advance reservation)."""
        state, config = self.state, self.state.config
        sconf = config.sconf
        snap.max_reservation = max(0, sconf.max_reservation)
        snap.default_duration = sconf.default_duration.seconds
        snap.duration_offset = _float(sched_params(sconf.params).get("DURATION_OFFSET", ""), DEFAULT_OFFSET)
        snap.quotas = [qset for qset in config.quota_sets.values() if qset.enabled]
        snap.advance_reservations = reservation_snaps(state)
        devices = any(c.type == "RSMAP" for c in snap.complexes.values())
        tickets = self.ticket_config(snap.now)
        snap.tickets = tickets
        if snap.quotas:
            snap.usersets = {name: frozenset(u.entries) for name, u in config.usersets.items()}
            snap.user_groups = {owner: unix_groups(owner) for owner in
                                {job.owner for job in state.jobs.values()}}
        wanted = (running or bool(snap.quotas) or snap.max_reservation > 0 or bool(snap.advance_reservations)
                  or tickets is not None)
        if wanted or devices:
            self._running(snap, wanted, devices)
        if tickets is not None:
            self._pending_figures(snap)

    def _running(self, snap: sched.Snapshot, describe: bool, devices: bool) -> None:
        """Running tasks (``describe``) and the resource map ids they hold (``devices``)."""
        state = self.state
        config = state.config
        for job in state.jobs.values():
            if not job.tasks:
                continue
            spec = job.spec
            department = self.department(job) if describe else ""
            for task in job.tasks.values():
                if devices:
                    for a in task.assignments:
                        host = snap.hosts.get(a.host) if a.devices else None
                        if host is not None:
                            for name, ids in a.devices.items():
                                host.devices_granted.setdefault(name, []).extend(ids)
                if not describe:
                    continue
                first = task.master
                limits = {name: config.queue_attr(first.queue, name, first.host) for name in ("h_rt", "s_rt")}
                snap.running.append(sched.RunningJob(
                    job_id=job.job_id, task_id=task.task_id, owner=job.owner, project=spec.project,
                    department=department, pe=task.pe,
                    assignments=[sched.Assignment(a.queue, a.host, a.slots, dict(a.devices))
                                 for a in task.assignments],
                    hard_resources=dict(spec.hard_resources), start_time=task.start_time or task.dispatch_time,
                    runtime=run_time(spec.hard_resources, limits, math.inf), ar_id=spec.ar_id,
                    job_share=spec.job_share, override_tickets=spec.override_tickets))

    def _pending_figures(self, snap: sched.Snapshot) -> None:
        """Department and urgency of every pending job (the priority formula reads them)."""
        from qsys.master.urgency import urgency_of, waiting_weight

        state = self.state
        jobs, w_wait = state.jobs, waiting_weight(state)
        for pending in snap.jobs:
            job = jobs.get(pending.job_id)
            if job is not None:
                pending.department = self.department(job)
                pending.urgency = urgency_of(state, job, snap.now, w_wait)

    # ------------------------------------------------------------ the ticket configuration

    def ticket_config(self, now: float) -> TicketConfig | None:
        """The ticket policies' inputs, None while every ticket weight and override ticket is
        0 (kept between passes until the configuration, the usage or the -ot jobs change)."""
        state, config = self.state, self.state.config
        job_tickets = any(job.spec.override_tickets for job in state.jobs.values())
        key = (config.generation, self.usage.generation, job_tickets)
        if key == self._tickets_for:
            if self._tickets is not None and self._tickets.share_tree is not None:
                self._tickets.usage = self.usage.decayed(now, config.sconf.halftime)
            return self._tickets
        self._tickets_for = key
        self._tickets = self._build_tickets(now, job_tickets)
        return self._tickets

    def _build_tickets(self, now: float, job_tickets: bool) -> TicketConfig | None:
        config = self.state.config
        sconf = config.sconf
        users = {name: ObjectShares(u.fshare, u.oticket) for name, u in config.users.items() if u.fshare or u.oticket}
        projects = {name: ObjectShares(p.fshare, p.oticket) for name, p in config.projects.items()
                    if p.fshare or p.oticket}
        departments = {name: ObjectShares(u.fshare, u.oticket) for name, u in config.usersets.items()
                       if "DEPT" in u.type and (u.fshare or u.oticket)}
        tree = config.share_tree.root if config.share_tree is not None else None
        share = sconf.weight_tickets_share if tree is not None else 0
        otickets = job_tickets or any(o.oticket for table in (users, projects, departments) for o in table.values())
        if not (sconf.weight_tickets_functional or share or otickets):
            return None
        weights = {name: _float(value, 0.0) for name, value in sconf.usage_weight_list.items()}
        return TicketConfig(
            weight_tickets_functional=float(sconf.weight_tickets_functional),
            weight_tickets_share=float(share),
            weight_user=sconf.weight_user, weight_project=sconf.weight_project,
            weight_department=sconf.weight_department, weight_job=sconf.weight_job,
            share_override_tickets=sconf.share_override_tickets,
            share_functional_shares=sconf.share_functional_shares,
            max_functional_jobs_to_schedule=sconf.max_functional_jobs_to_schedule,
            max_pending_tasks_per_job=sconf.max_pending_tasks_per_job,
            policy_hierarchy=sconf.policy_hierarchy,
            weight_ticket=sconf.weight_ticket, weight_urgency=sconf.weight_urgency,
            weight_priority=sconf.weight_priority, compensation_factor=sconf.compensation_factor,
            usage_weights=weights, share_tree=tree, users=users, projects=projects, departments=departments,
            usage=self.usage.decayed(now, sconf.halftime) if tree is not None else {})

    # ------------------------------------------------------------ accounting

    def accounted(self, job: Job, record: dict[str, Any], now: float) -> list[Any]:
        """A finished task's record gets its department and advance reservation; its usage
        is charged to its owner and project while a share tree is defined (the store change)."""
        record["department"] = self.department(job)
        ar_id = job.spec.ar_id
        if ar_id is not None:
            ar = self.state.ars.get(ar_id)
            record["arid"] = ar_id
            record["ar_sub_time"] = int(ar.submission_time) if ar is not None else 0
            if self.ar_job_ended is not None:
                self.ar_job_ended()
        config = self.state.config
        if config.share_tree is None:
            return []
        return [self.usage.charge(job.owner, job.spec.project, record, now, config.sconf.halftime)]

    # ------------------------------------------------------------ from the decision

    def observe(self, decision: sched.Decision) -> None:
        """Keep what qstat shows of a pass: priorities, tickets, reservations."""
        self.priorities = decision.priorities
        self.running_tickets = decision.running_tickets
        self.reservations = {r.job_id: r for r in decision.reservations}


__all__ = ["DEFAULT_DEPARTMENT", "MasterPolicies", "sched_params"]
