"""Advance reservations in the master: ``qrsub`` grants slots for a window, ``qrstat`` shows
them, ``qrdel`` ends them; jobs submitted with ``-ar`` run only in theirs.

A reservation is granted where its whole window leaves the slots free (``qsys.sched.advance``:
running jobs hold theirs until their run-time limits end, other reservations hold theirs for
their windows); from then on the scheduler keeps them for the reservation's jobs
(``qsys.sched.policies``). A timer on the master's clock starts a reservation (state ``w`` ->
``r``) and ends it: its jobs are deleted and it is forgotten. Reservations are stored, so they
survive a master restart. Only managers and members of the ``arusers`` access list may
reserve, as in Grid Engine.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

from qsys import protocol, sched
from qsys.arspec import ArRecord, ArSpec, record_for
from qsys.errors import InvalidRequest, PermissionDenied
from qsys.master.identity import Identity
from qsys.master.submit import primary_group
from qsys.master.unixgroups import unix_groups
from qsys.record import asdict, from_map
from qsys.sched.advance import grant
from qsys.sched.reservation import run_time
from qsys.store import DeleteObject, PutObject, SetCounter

if TYPE_CHECKING:
    from qsys.jobspec import JobSpec
    from qsys.master.core import Master, Snapshots
    from qsys.store import Loaded

log = logging.getLogger("qsys.master.advance")

KIND = "ar"  # the store's objects of this part
COUNTER = "next_ar_id"
AR_USERS = "arusers"
SAFETY_SECONDS = 60.0  # the timer looks again at least this often
SYSTEM = Identity(uid=0, user="root", host="", manager=True, operator=True)


class JobDeleter(Protocol):
    def act(self, who: Identity, msg: protocol.JobAction) -> tuple[list[str], bool, list[Any]]: ...


def snaps(state: Master) -> list[sched.AdvanceReservationSnap]:
    """The reservations whose slots the scheduler keeps (not those being deleted)."""
    out = []
    for record in state.ars.values():
        if record.state in ("w", "r"):
            out.append(sched.AdvanceReservationSnap(
                record.ar_id, record.start, record.end,
                [sched.Assignment(qi.partition("@")[0], qi.partition("@")[2], int(n)) for qi, n in record.granted],
                record.pe[0] if record.pe else None))
    return out


def check_job(state: Master, who: Identity, spec: JobSpec) -> None:
    """A ``-ar`` job names a reservation it may use and fits in its window (Grid Engine's
    refusals; qsub prints them after "Unable to run job: ")."""
    if spec.ar_id is None:
        return
    record = state.ars.get(spec.ar_id)
    if record is None or record.state not in ("w", "r"):
        raise InvalidRequest(f"the advance reservation id {spec.ar_id} is invalid")
    duration = run_time(spec.hard_resources, {}, 0.0)
    if duration > record.end - record.start:
        raise InvalidRequest(f"the job duration is longer than duration of the advance reservation id {spec.ar_id}")
    if record.users and who.user not in record.users and who.user != record.owner:
        raise InvalidRequest("error: no suitable queues")
    if who.user in record.excluded:
        raise InvalidRequest("error: no suitable queues")


class AdvanceReservations:
    def __init__(self, state: Master, snapshots: Snapshots, jobs: JobDeleter) -> None:
        self.state = state
        self.snapshots = snapshots
        self.jobs = jobs
        self.next_id = 1
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def load(self, loaded: Loaded) -> None:
        self.next_id = max(1, loaded.counters.get(COUNTER, 1))
        for (kind, _), data in loaded.objects.items():
            if kind == KIND:
                try:
                    record = from_map(ArRecord, data)
                except Exception as exc:  # a record of an older layout: said, and left out
                    log.error("stored advance reservation %r is not valid, ignored: %s", data.get("ar_id"), exc)
                    continue
                self.state.ars[record.ar_id] = record
                self.next_id = max(self.next_id, record.ar_id + 1)

    def restore(self, name: str, record: dict[str, Any] | None) -> None:
        """Hold a reservation as the store has it (a refused commit is undone)."""
        if record is None:
            self.state.ars.pop(int(name), None)
        else:
            self.state.ars[int(name)] = from_map(ArRecord, record)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def wake(self) -> None:
        """Look at the reservations again (a job of one ended)."""
        self._wake.set()

    # ------------------------------------------------------------ requests

    def _may_reserve(self, who: Identity) -> None:
        config = self.state.config
        arusers = config.usersets.get(AR_USERS)
        groups = unix_groups(who.user)
        if not who.manager and not (arusers is not None and arusers.admits(who.user, groups)):
            raise PermissionDenied(f'denied: "{who.user}" must be manager or in userset "{AR_USERS}"')

    async def submit(self, who: Identity, msg: protocol.ArSubmit) -> protocol.Lines:
        """qrsub: grant the slots or refuse (nothing is kept of a refused request)."""
        self._may_reserve(who)
        state = self.state
        now = state.clock.now()
        spec: ArSpec = msg.spec
        start, end = spec.window(now)
        if spec.pe is not None and not any(_matches(name, spec.pe[0]) for name in state.config.pes):
            raise InvalidRequest(f'denied: parallel environment "{spec.pe[0]}" does not exist')
        request = sched.PendingJob(job_id=0, owner=who.user, hard_resources=dict(spec.resources),
                                   hard_queues=list(spec.queues), master_queues=list(spec.master_queues),
                                   pe=spec.pe)
        try:
            assignments, pe = grant(self.snapshots.snapshot(now, running=True), request, start, end)
        except InvalidRequest as exc:
            return protocol.Lines([f"advance_reservation: {exc.message}"], 1)
        ar_id = self.next_id
        self.next_id += 1
        group, _ = primary_group(who.user, who.uid)
        granted = [(f"{a.queue}@{a.host}", a.slots) for a in assignments]
        record = record_for(ar_id, spec, who.user, group, now, granted,
                            (pe, sum(a.slots for a in assignments)) if pe else None)
        state.ars[ar_id] = record
        await state.commit([_put(record), SetCounter(COUNTER, self.next_id)])
        self._wake.set()
        state.schedule_soon()
        return protocol.Lines([f"Your advance reservation {ar_id} has been granted"])

    async def status(self, who: Identity, msg: protocol.ArStatus) -> protocol.ArRows:
        """qrstat: reservations by id, or those of the users asked for (the caller's without)."""
        ars = self.state.ars
        if msg.ids:
            return protocol.ArRows([ars[i] for i in msg.ids if i in ars], [i for i in msg.ids if i not in ars])
        users = set(msg.users or [who.user])
        return protocol.ArRows([r for _, r in sorted(ars.items()) if "*" in users or r.owner in users])

    async def delete(self, who: Identity, msg: protocol.ArDelete) -> protocol.Lines:
        """qrdel: end reservations and delete their jobs (a reservation with running jobs
        stays in state ``d`` until they are gone)."""
        self._may_reserve(who)
        ars = self.state.ars
        chosen: list[ArRecord] = []
        lines, failed = [], False
        for target in msg.targets:
            found = [r for r in ars.values() if str(r.ar_id) == target or (r.name and r.name == target)]
            if not found:
                lines.append(f'denied: advance_reservation "{target}" does not exist')
                failed = True
            chosen.extend(found)
        if msg.users:
            chosen.extend(r for r in ars.values() if "*" in msg.users or r.owner in msg.users)
        changes: list[Any] = []
        for record in {r.ar_id: r for r in chosen}.values():
            if record.owner != who.user and not who.manager:
                lines.append(f'denied: "{who.user}" is not the owner of advance_reservation "{record.ar_id}"')
                failed = True
                continue
            running = self._end_jobs(record, changes)
            if running:
                record.state = "d"
                changes.append(_put(record))
                lines.append(f"{who.user} has registered the advance_reservation {record.ar_id} for deletion")
            else:
                del ars[record.ar_id]
                changes.append(DeleteObject(KIND, str(record.ar_id)))
                lines.append(f"{who.user} has deleted advance_reservation {record.ar_id}")
        await self.state.commit(changes)
        self.state.schedule_soon()
        self._wake.set()
        return protocol.Lines(lines, 1 if failed else 0)

    def _end_jobs(self, record: ArRecord, changes: list[Any]) -> bool:
        """Delete the reservation's jobs (memory; ``changes`` gets the store's); whether any
        of them still runs."""
        ids = [str(job.job_id) for job in self.state.jobs.values() if job.spec.ar_id == record.ar_id]
        if ids:
            _, _, done = self.jobs.act(SYSTEM, protocol.JobAction("delete", ids))
            changes.extend(done)
        return any(job.tasks for job in self.state.jobs.values() if job.spec.ar_id == record.ar_id)

    # ------------------------------------------------------------ the windows

    async def _loop(self) -> None:
        clock = self.state.clock
        while True:
            self._wake.clear()  # before the tick: a wake during its commit is not lost
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("advance reservation timer failed")
            await clock.wait(self._wake, self._next_event(clock.now()))

    def _next_event(self, now: float) -> float:
        times = [t for r in self.state.ars.values() for t in (r.start, r.end) if t > now]
        return max(0.05, min([SAFETY_SECONDS, *(t - now for t in times)]))

    async def tick(self) -> None:
        """Start the reservations whose window opened, end those whose window closed (and
        forget those deleted once their jobs are gone)."""
        state = self.state
        now = state.clock.now()
        changes: list[Any] = []
        for record in list(state.ars.values()):
            if record.state == "w" and record.start <= now < record.end:
                record.state = "r"
                changes.append(_put(record))
            elif record.state in ("w", "r") and now >= record.end:
                log.info("advance reservation %d ended", record.ar_id)
                record.state = "d"
                self._end_jobs(record, changes)
                changes.append(_put(record))
            if record.state == "d" and not any(job.spec.ar_id == record.ar_id for job in state.jobs.values()):
                del state.ars[record.ar_id]
                changes.append(DeleteObject(KIND, str(record.ar_id)))
        if changes:
            await state.commit(changes)
            state.schedule_soon()


def _put(record: ArRecord) -> PutObject:
    return PutObject(KIND, str(record.ar_id), asdict(record))


def _matches(name: str, pattern: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(name, pattern)
