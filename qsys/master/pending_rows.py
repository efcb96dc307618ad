"""qstat's pending rows, made again only for the jobs that changed.

Workflow tools poll qstat every second; between two polls a few of 5,000 pending jobs
change, or none (a load report, a pass that started nothing, a write elsewhere make the
status cache's replies old). So each job's pending part is kept as a :class:`PendingRows`:
what its rows were made from (``key``), where they stand in the listing and their text in
each form asked for so far -- not the rows themselves (a row is ~1.5 KB, its text ~0.1 KB):
they are made again when asked for (qstat --json, -urg, -s, -q), or to render a form not
rendered yet.

What a pending row shows is its job's (a spec is replaced, never changed in place: its
identity stands for the requests, the name and the slots), its state, its pending tasks,
its priority and, for the full rows, its tickets and department: the ``key``. A job waiting
for array tasks (-hold_jid_ad) is made each time: its rows show other jobs' progress.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from qsys.master.arraydeps import split_pending, waiting_test
from qsys.master.tasks import describe_ids
from qsys.master.urgency import Priorities, priorities
from qsys.record import maker, replace
from qsys.records import JobRow

if TYPE_CHECKING:
    from qsys.master.core import Master
    from qsys.master.jobs import Job

# qstat -ext's ticket columns, in the order of a row's ``tickets``
TICKET_NAMES = ("ntckts", "ovrts", "jobshare", "tckts", "otckt", "ftckt", "stckt", "share")
BRIEF_KEY = 5  # the length of a brief row's key (a full row's has its tickets, department, predecessors)
GONE = 64  # entries of gone jobs kept at most before they are dropped
MAX_LISTINGS = 64  # kinds of listing kept (brief or not, by users asked about)


def common(job: Job, prio: float) -> dict[str, Any]:
    """The fields of a full row that come from the job (pending or running)."""
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


def _pending_row(job: Job, prio: float, brief: bool) -> JobRow:
    """A pending job's row (brief rows carry no extras, and are made without the maps of
    keywords of the others)."""
    spec = job.spec
    is_array = spec.tasks is not None
    if brief:
        return _MAKE_ROW({"job_id": job.job_id, "priority": prio, "name": spec.name, "owner": job.owner,
                          "state": job.pending_state(), "submit_time": job.submit_time, "start_time": None,
                          "queue": "", "slots": spec.slots_requested(),
                          "tasks": job.pending.describe() if is_array else "", "is_array": is_array})
    return JobRow(**common(job, prio), state=job.pending_state(), start_time=None, queue="",
                  slots=spec.slots_requested(), tasks=job.pending.describe() if is_array else "")


_MAKE_ROW = maker(JobRow)


def _rerun(job: Job) -> bool:
    """Are some of the job's pending tasks reruns (Rq)?"""
    return bool(job.restarts) and any(t in job.pending for t in job.restarts)


def pending_rows(master: Master, job: Job, prio: float, brief: bool) -> list[JobRow]:
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


class PendingRows:
    """A job's pending rows as last made: from what (``key``), where they stand among the
    pending rows (``order``: by priority, then age) and their text per form."""

    __slots__ = ("master", "job", "prio", "key", "order", "texts")

    def __init__(self, master: Master, job: Job, prio: float, key: tuple[Any, ...],
                 order: tuple[float, float, int]) -> None:
        # the master, not the maker that keeps the entry: a maker and its entries made a
        # cycle, and a qstat's own maker (``status.job_listing``) outlived the collection of
        # the young generations, was frozen (``collector``) with the jobs it showed until the hourly thaw
        self.master = master
        self.job = job
        self.prio = prio
        self.key = key  # prio as shown, spec, state, rerun, tasks [, tickets, department, predecessors]
        self.order = order
        self.texts: tuple[tuple[Hashable, str], ...] = ()  # (form, text): one or two forms (a map: 200 bytes more)

    def rows(self) -> list[JobRow]:
        """The rows (made now: they are not kept)."""
        brief = len(self.key) == BRIEF_KEY
        rows = pending_rows(self.master, self.job, self.prio, brief)
        if not brief:
            tickets, department = dict(zip(TICKET_NAMES, self.key[BRIEF_KEY], strict=True)), self.key[BRIEF_KEY + 1]
            for row in rows:
                row.tickets = tickets
                if department is not None:
                    row.department = department
        return rows

    def first(self) -> JobRow:
        return self.rows()[0]

    def text(self, form: Hashable, render: Callable[[JobRow], str]) -> str:
        """The rows' text in ``form`` (``render``: a row's), made once."""
        for made, text in self.texts:
            if made == form:
                return text
        text = "".join(map(render, self.rows()))
        self.texts += ((form, text),)
        return text


def order_of(entry: PendingRows) -> tuple[float, float, int]:
    return entry.order


class RowMaker:
    """Each job's :class:`PendingRows`, brief and full, made again when their key moved."""

    def __init__(self, master: Master, watch: bool = False) -> None:
        """``watch``: told of the jobs that change (``Master.job_watchers``), the maker checks
        only theirs and the priorities of the others; else every job's whole key."""
        self.master = master
        self._kept: tuple[dict[int, PendingRows], dict[int, PendingRows]] = ({}, {})  # full, brief
        self.listings = Listings(master)
        self._changed: set[int] | None = None  # since the last listing (None: not watching)
        self._all_changed = False  # (more than the jobs there are: every entry is dropped)
        if watch:
            self._changed = set()
            master.job_watchers.append(self._job_changed)
            master.giveback.tables += self._kept  # (emptied by a qdel, they kept a table for each job)

    def _job_changed(self, job_id: int) -> None:
        self.listings.clear()  # made before this change: never served again
        if job_id not in self.master.jobs:
            # gone: its entries (and the job they hold) go now, not at the next listing (a
            # qdel of 50,000 pending jobs after a qstat kept them all: 59 -> 247 MB)
            for kept in self._kept:
                kept.pop(job_id, None)
            return
        changed = self._changed
        if changed is None or self._all_changed:
            return
        changed.add(job_id)
        if len(changed) > 2 * len(self.master.jobs) + GONE:
            self._all_changed = True
            changed.clear()

    def sync(self) -> None:
        """Drop the entries of the jobs that changed since (and of jobs gone, when they are
        many: one walk per many jobs gone)."""
        changed = self._changed
        if self._all_changed:
            self._all_changed = False
            for kept in self._kept:
                kept.clear()
        elif changed:
            for kept in self._kept:
                for job_id in changed:
                    kept.pop(job_id, None)
            changed.clear()
        jobs = self.master.jobs
        for kept in self._kept:
            if len(kept) > len(jobs) + GONE:
                for job_id in [j for j, entry in kept.items() if jobs.get(j) is not entry.job]:
                    del kept[job_id]

    def kept(self) -> int:
        """How many jobs' entries are kept."""
        return sum(len(kept) for kept in self._kept)

    def pending(self, job: Job, prio: float, tickets: tuple[float, ...] | None = None,
                department: str | None = None) -> PendingRows:
        """The pending rows of ``job``: brief ones without ``tickets`` (full rows have them)."""
        brief = tickets is None
        kept = self._kept[brief]
        entry = kept.get(job.job_id)
        if (entry is not None and entry.prio == prio and self._changed is not None and entry.job is job
                and (brief or entry.key[BRIEF_KEY:BRIEF_KEY + 2] == (tickets, department))
                and not job.ad_predecessors):
            return entry  # (unchanged since: ``sync`` dropped the entries of the jobs that changed)
        order = (-prio, job.submit_time, job.job_id)
        # the priority as shown (to 5 places: while the waiting time counts, it moves in the
        # last bits from one computation to the next)
        key: tuple[Any, ...] = (round(prio, 5), job.spec, job.pending_state(), _rerun(job),
                                job.pending.describe() if job.spec.tasks is not None else len(job.pending))
        if tickets is not None:
            key += (tickets, department, tuple(job.predecessors))
        if entry is not None and entry.job is job and entry.key == key and not job.ad_predecessors:
            entry.order = order
            return entry
        entry = kept[job.job_id] = PendingRows(self.master, job, prio, key, order)
        return entry


class Listing:
    """What the pending rows of one kind of listing (brief or full, whose jobs) were made
    from, the priorities they show, the rows (a list never changed after) and the texts of
    listings of nothing else, by form (``rendering.jobs_text``)."""

    __slots__ = ("job_changes", "generation", "tickets", "running_tickets", "now", "figures", "entries", "texts")

    def __init__(self, master: Master, tickets: Any, running_tickets: Any, now: float | None) -> None:
        self.job_changes = master.job_changes
        self.generation = master.config.generation
        self.tickets = tickets
        self.running_tickets = running_tickets
        self.now = now  # (the waiting time moves the priorities, if weighed)
        self.figures: Priorities | None = None
        self.entries: list[PendingRows] = []
        self.texts: dict[Hashable, str] = {}

    def same(self, other: Listing) -> bool:
        """Were both made from the same jobs, configuration and tickets?"""
        return (self.job_changes == other.job_changes and self.generation == other.generation
                and self.tickets is other.tickets and self.running_tickets is other.running_tickets)


class Listings:
    """The last listing of each kind, served again while what it was made from is the same."""

    def __init__(self, master: Master) -> None:
        self.master = master
        self._listings: dict[Hashable, Listing] = {}

    def get(self, key: Hashable, now: Listing) -> Listing:
        """The listing kept for ``key`` if it was made from what ``now`` holds, else ``now``
        (its caller fills in its figures and rows, and keeps it). While only the clock moved
        the priorities are made again: the rows stay if they show the same ones."""
        kept = self._listings.get(key)
        if kept is None or kept.figures is None or not kept.same(now):
            for old in [k for k, listing in self._listings.items() if not listing.same(now)]:
                del self._listings[old]  # (made before a change: never served again)
            return now
        if kept.figures.timed and kept.now != now.now:
            figures = priorities(self.master, now.tickets, now.running_tickets)
            if not figures.same(kept.figures):
                return now
            kept.now = now.now
        return kept

    def clear(self) -> None:
        """Forget every listing (a job changed: none is served again, and each holds the
        rows and texts of all the jobs it showed)."""
        if self._listings:
            self._listings.clear()

    def keep(self, key: Hashable, listing: Listing) -> None:
        if len(self._listings) >= MAX_LISTINGS:
            self._listings.clear()
        self._listings[key] = listing
