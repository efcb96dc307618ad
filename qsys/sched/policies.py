"""The policies a pass applies on top of slots and consumables: resource quota sets,
reservations with backfill, advance reservations and device ids.

:class:`Policies` is what the pass asks at each step (which categories to keep apart, how
many slots a queue instance has for a category, whether a placement may start, what to
record when it does, what to plan when a job waits). It exists only when the snapshot asks
for one of them, so a pass without policies runs exactly as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qsys.sched.devices import DeviceState
from qsys.sched.matching import QUEUE, JobRequest, Ledger
from qsys.sched.quotas import Match, QuotaState, Who, request_amounts
from qsys.sched.reservation import Timeline, run_time
from qsys.sched.snapshot import (
    AdvanceReservationSnap,
    Assignment,
    ComplexDef,
    PendingJob,
    QueueInstanceSnap,
    Reservation,
    Snapshot,
)

if TYPE_CHECKING:
    from qsys.sched.scheduler import _Category

AR_NOT_RUNNING = "job dropped because its advance reservation has not started yet"
_AR_HELD = '(-l {request}) cannot run in queue "{qi}" because it offers only qc:slots=0.000000'
_RESERVED = 'cannot run in queue instance "{qi}" because its slots are reserved for job {job}'

# (instance index, queue instance, slots there)
Placed = list[tuple[int, QueueInstanceSnap, int]]


def wanted(snap: Snapshot) -> bool:
    """Does this snapshot ask for any policy of this module?"""
    return (any(q.enabled for q in snap.quotas) or bool(snap.advance_reservations)
            or (snap.max_reservation > 0 and any(job.reserve for job in snap.jobs))
            or any(c.type == "RSMAP" for c in snap.complexes.values()))


class Policies:
    def __init__(self, snap: Snapshot, index: dict[str, ComplexDef], ledger: Ledger, slots_def: ComplexDef) -> None:
        self.snap = snap
        self.ledger = ledger
        self.slots_def = slots_def
        self.position = {(qi.queue, qi.host): i for i, qi in enumerate(snap.queue_instances)}
        self.quotas = QuotaState(snap, index)
        self.amounts: dict[tuple[int, int, bool], dict[str, float]] = {}
        self.whos: dict[tuple[str, str | None], Who] = {}  # (owner, project) -> what quotas see
        self.pe_whos: dict[tuple[object, ...], Who] = {}  # the same in a PE
        self.quotas_anywhere = self.quotas.active and self.quotas.anywhere
        # what of a job's owner and project the quota rules can tell apart (a category each)
        self.quota_users = self.quotas.active and self.quotas.looks_at("users")
        self.quota_projects = self.quotas.active and self.quotas.looks_at("projects")
        self.devices = DeviceState(snap, index)
        self.reservations_left = snap.max_reservation
        self.ars = {ar.ar_id: ar for ar in snap.advance_reservations}
        self.ar_free: dict[tuple[int, int], int] = {}  # (ar, instance) -> slots left for its jobs
        self.held: dict[int, int] = {}  # instance -> slots active reservations keep from others
        self.reserved_by: dict[int, int] = {}  # instance -> a job holding a reservation there
        needs_timeline = (snap.max_reservation > 0 and any(job.reserve for job in snap.jobs)) or any(
            ar.start > snap.now for ar in snap.advance_reservations)
        self.timeline = Timeline(snap) if needs_timeline else None
        # -R y changes what a job does only where reservations are made
        self.reserves = self.timeline is not None and snap.max_reservation > 0
        # does :meth:`key_extra` tell apart jobs outside advance reservations at all?
        self.splits = self.quota_users or self.quota_projects or self.reserves
        self._hold_advance_reservations()

    # ------------------------------------------------------------ advance reservations

    def _hold_advance_reservations(self) -> None:
        snap = self.snap
        used: dict[tuple[int, int], int] = {}
        for run in snap.running:
            if run.ar_id is not None:
                for a in run.assignments:
                    i = self.position.get((a.queue, a.host))
                    if i is not None:
                        used[(run.ar_id, i)] = used.get((run.ar_id, i), 0) + a.slots
        for ar in snap.advance_reservations:
            for a in ar.assignments:
                i = self.position.get((a.queue, a.host))
                if i is None:
                    continue
                if ar.start <= snap.now < ar.end:
                    left = max(0, a.slots - used.get((ar.ar_id, i), 0))
                    self.ar_free[(ar.ar_id, i)] = left
                    self.held[i] = self.held.get(i, 0) + left
                    self.ledger.take(QUEUE, snap.queue_instances[i], self.slots_def, left)
                elif ar.start > snap.now and self.timeline is not None:
                    self.timeline.block(i, ar.start, ar.end, a.slots)

    def _ar(self, job: PendingJob) -> AdvanceReservationSnap | None:
        return self.ars.get(job.ar_id) if job.ar_id is not None else None

    # ------------------------------------------------------------ categories

    def key_extra(self, job: PendingJob) -> tuple[object, ...]:
        """What else makes two jobs behave differently under these policies (without
        :attr:`splits`, the same for all jobs outside advance reservations)."""
        # jobs no quota rule tells apart share a category (and its verdicts)
        return (job.ar_id, job.owner if self.quota_users else None, job.project if self.quota_projects else None,
                job.reserve if self.reserves else None)

    def prepare(self, cat: _Category, job: PendingJob) -> None:
        key = (job.owner, job.project)
        who = self.whos.get(key)
        if who is None:  # a frozen dataclass is slow to make: one per owner and project
            who = self.whos[key] = Who(job.owner, self.snap.user_groups.get(job.owner, ()), job.project, None)
        cat.who = who
        assert cat.req is not None  # a category without a request has an error
        cat.request_text = cat.req.shown
        if job.ar_id is not None and job.ar_id not in self.ars:
            cat.error = f"the advance reservation id {job.ar_id} is invalid"

    def static_reason(self, cat: _Category, job: PendingJob, i: int, qi: QueueInstanceSnap) -> str | None:
        """An AR job may only go where its reservation has slots."""
        ar = self._ar(job)
        if ar is not None and not any((a.queue, a.host) == (qi.queue, qi.host) for a in ar.assignments):
            return f'cannot run in queue instance "{qi.name}" because it is not part of advance reservation {ar.ar_id}'
        return None

    def waiting_reason(self, job: PendingJob) -> str | None:
        ar = self._ar(job)
        if ar is not None and not ar.start <= self.snap.now < ar.end:
            return AR_NOT_RUNNING
        return None

    # ------------------------------------------------------------ slots now

    def queue_cap(self, cat: _Category, job: PendingJob, i: int, qi: QueueInstanceSnap, req: JobRequest) -> float:
        """Slots ``qi`` has now for a job of ``cat``: the ledger's, an AR job's share of its
        reservation, less what reservations made in this pass keep for later."""
        cap = self.ledger.slot_cap(QUEUE, qi, req.per_slot, self.slots_def)
        if job.ar_id is not None:
            held = self.held.get(i, 0)
            cap = min(self.ar_free.get((job.ar_id, i), 0), cap + held)
        if self.timeline is not None and job.ar_id is None and self.timeline.instances[i].blocks:
            cap = min(cap, self.timeline.room_now(i, self._end(job, qi)))
        return cap

    def _end(self, job: PendingJob, qi: QueueInstanceSnap) -> float:
        assert self.timeline is not None
        return self.timeline.end_of(run_time(job.hard_resources, qi.complex_values, self.snap.default_duration))

    def owner_refusal(self, cat: _Category, job: PendingJob, req: JobRequest, slots: int) -> str | None:
        """Why ``slots`` slots exceed a quota wherever they go (quotas that look at no queue
        or host), before any placement is worked out; None if they may fit."""
        if not self.quotas_anywhere or job.ar_id is not None:
            return None
        who = self._who(cat)
        return self.quotas.exceeded(who, "", "", self._amounts(req, slots, True),
                                    req.fixed)

    def _amounts(self, req: JobRequest, slots: int, master: bool) -> dict[str, float]:
        """:func:`request_amounts` of ``req``, made once per pass (read only)."""
        key = (id(req), slots, master)  # the pass's categories hold their requests
        found = self.amounts.get(key)
        if found is None:
            found = self.amounts[key] = request_amounts(req.per_slot, req.per_job, slots, master)
        return found

    def refuse(self, cat: _Category, job: PendingJob, req: JobRequest, placed: Placed) -> tuple[str | None, bool]:
        """Why this placement may not start now (quota, devices), or None; and whether the
        reason holds for every job of the same requests (devices) or only for this owner
        and project (a quota)."""
        together: dict[Match, dict[str, float]] = {}
        devices: dict[str, dict[str, int]] = {}
        # one slot of a sequential job on quotas that look at no instance: owner_refusal
        # asked exactly this before the placement was looked for
        quotas = self.quotas.active and job.ar_id is None and not (self.quotas_anywhere and req.pe is None)
        for position, (_, qi, count) in enumerate(placed):
            if quotas:
                who = self._who(cat)
                amounts = self._amounts(req, count, position == 0)
                why = self.quotas.exceeded(who, qi.queue, qi.host, amounts, req.fixed, together)
                if why is not None:
                    return why, False
            if self.devices.active:
                need = self.devices.wanted(req.per_slot, req.per_job, count, master=position == 0)
                host_need = devices.setdefault(qi.host, {})
                for name, n in need.items():
                    host_need[name] = host_need.get(name, 0) + n
        for host, need in devices.items():
            if need and not self.devices.available(host, need):
                return f'cannot run at host "{host}" because its resource map ids are used up', True
        return None, True

    def release_held(self, job: PendingJob, placed: Placed) -> None:
        """An AR's job starts on slots its reservation held: the ledger gets them back first,
        to take them again for the job."""
        if job.ar_id is not None:
            for _, qi, count in placed:
                self.ledger.take(QUEUE, qi, self.slots_def, -count)

    def commit(self, cat: _Category, job: PendingJob, req: JobRequest, placed: Placed,
               assignments: list[Assignment]) -> None:
        """Record a placement that started (after the ledger took its amounts)."""
        for position, ((i, qi, count), assignment) in enumerate(zip(placed, assignments, strict=True)):
            if self.quotas.active and job.ar_id is None:
                who = self._who(cat)
                self.quotas.take(who, qi.queue, qi.host,
                                 self._amounts(req, count, position == 0))
            if self.devices.active:
                need = self.devices.wanted(req.per_slot, req.per_job, count, master=position == 0)
                if need:
                    assignment.devices = self.devices.take(qi.host, need)
            if job.ar_id is not None:
                key = (job.ar_id, i)
                self.ar_free[key] = self.ar_free.get(key, 0) - count
                self.held[i] = self.held.get(i, 0) - count
            if self.timeline is not None:
                self.timeline.started(i, count, self._end(job, qi))

    def held_reason(self, cat: _Category, qi: QueueInstanceSnap, i: int) -> str | None:
        """Grid Engine's words for a queue instance whose free slots an AR keeps."""
        if self.held.get(i, 0) > 0 and qi.used_slots < qi.slots:
            return _AR_HELD.format(request=cat.request_text, qi=qi.name)
        return None

    def reserved_reason(self, qi: QueueInstanceSnap, i: int) -> str | None:
        if i in self.reserved_by:
            return _RESERVED.format(qi=qi.name, job=self.reserved_by[i])
        return None

    def _who(self, cat: _Category) -> Who:
        """What the quota rules see of a job of ``cat`` in the PE it is being tried in (the
        category's own when it is no parallel job; one per owner, project and PE a pass: a
        frozen dataclass is slow to make)."""
        who = cat.who
        if who.pe == cat.pe_name:
            return who
        key = (who.user, who.groups, who.project, cat.pe_name)  # a plain tuple hashes in C
        found = self.pe_whos.get(key)
        if found is None:
            found = self.pe_whos[key] = Who(who.user, who.groups, who.project, cat.pe_name)
        return found

    # ------------------------------------------------------------ planning ahead

    def reserve(self, cat: _Category, job: PendingJob, task: int, decision_reservations: list[Reservation],
                pe: tuple[str, int, int, str] | None) -> None:
        """Slots for a ``-R y`` job that waits: the earliest the running jobs' limits allow."""
        if (self.timeline is None or not job.reserve or self.reservations_left <= 0
                or job.ar_id is not None or cat.never is not None):
            return
        qis = self.snap.queue_instances
        candidates = list(cat.candidates)
        if pe is not None:
            name, low, high, rule = pe
            candidates = [i for i in candidates if name in qis[i].pe_list]
        if not candidates:
            return
        master = qis[candidates[0]]
        duration = run_time(job.hard_resources, master.complex_values, self.snap.default_duration)
        found = self.timeline.earliest(candidates, qis, duration, pe[3] if pe else None,
                                       pe[1] if pe else 1, pe[2] if pe else 1)
        if found is None:
            return
        start, placed = found
        end = start + duration + self.snap.duration_offset
        self.reservations_left -= 1
        for i, count in placed:
            self.timeline.block(i, start, end, count)
            self.reserved_by.setdefault(i, job.job_id)
        decision_reservations.append(Reservation(
            job.job_id, task, start, end, [Assignment(qis[i].queue, qis[i].host, count) for i, count in placed],
            pe[0] if pe else None, sum(count for _, count in placed)))
