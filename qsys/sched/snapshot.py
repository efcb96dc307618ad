"""What the scheduler reads (a snapshot of the cluster) and what it returns (orders).

Plain data only: the master builds a :class:`Snapshot` from its memory, calls
``qsys.sched.schedule`` and applies the :class:`Decision`. Nothing here does I/O, and the
scheduler never mutates the snapshot (it keeps its own working copy of what a pass used).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qsys.objects import complex as _objects_complexes

if TYPE_CHECKING:
    from qsys.objects.quota import ResourceQuotaSet
    from qsys.objects.sharetree import ShareNode

CONSUMABLE_KINDS = ("NO", "YES", "JOB")


@dataclass(slots=True, frozen=True)
class ComplexDef:
    """One line of ``qconf -sc``."""

    name: str
    shortcut: str
    type: str  # INT DOUBLE MEMORY TIME BOOL STRING CSTRING RESTRING HOST
    relop: str  # == <= >= < > != EXCL
    requestable: bool = True
    consumable: str = "NO"  # NO | YES (per slot) | JOB (once per job)
    default: str = "NONE"
    urgency: int = 0

    @property
    def is_consumable(self) -> bool:
        return self.consumable != "NO"


def parse_complex_table(text: str) -> dict[str, ComplexDef]:
    """Complexes from ``qconf -sc`` text (comment lines start with ``#``)."""
    out: dict[str, ComplexDef] = {}
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        name, shortcut, ctype, relop, requestable, consumable, default = fields[:7]
        urgency = int(fields[7]) if len(fields) > 7 else 0
        consumable = consumable.upper()
        if consumable not in CONSUMABLE_KINDS:
            consumable = "YES" if consumable in ("Y", "TRUE") else "NO"
        out[name] = ComplexDef(
            name=name,
            shortcut=shortcut,
            type=ctype.upper(),
            relop=relop,
            requestable=requestable.upper() in ("YES", "Y", "FORCED", "F", "TRUE"),
            consumable=consumable,
            default=default,
            urgency=urgency,
        )
    return out


def complex_index(complexes: dict[str, ComplexDef]) -> dict[str, ComplexDef]:
    """Name and shortcut -> definition, so ``-l h=node1`` finds ``hostname``."""
    index = {c.shortcut: c for c in complexes.values() if c.shortcut}
    index.update(complexes)  # a full name wins over another complex's shortcut
    return index


def complexes_from(rows: Iterable[Any]) -> dict[str, ComplexDef]:
    """The scheduler's view of complex rows (``qsys.objects.ComplexDef``: what ``qconf -sc``
    shows and ``-mc`` changes), by name."""
    return {
        row.name: ComplexDef(
            name=row.name,
            shortcut=row.shortcut,
            type=row.type,
            relop=row.relop,
            requestable=row.requestable != "NO",
            consumable=row.consumable,
            default=row.default,
            urgency=row.urgency,
        )
        for row in rows
    }


# Son of Grid Engine 8.1.9's default complexes; the one table lives in qsys.objects.complex
DEFAULT_COMPLEXES: dict[str, ComplexDef] = complexes_from(_objects_complexes.DEFAULT_COMPLEXES.complexes)


@dataclass(slots=True)
class HostSnap:
    """An exec host: its load report, fixed/consumable values and what is consumed."""

    name: str
    load: dict[str, str] = field(default_factory=dict)  # load_avg, np_load_avg, mem_free, arch...
    complex_values: dict[str, str] = field(default_factory=dict)  # capacities and fixed values
    consumed: dict[str, float] = field(default_factory=dict)  # by running jobs
    # resource map (RSMAP) ids held by running jobs, with repeats (their ids come from
    # complex_values, e.g. gpu=2(0 1))
    devices_granted: dict[str, list[str]] = field(default_factory=dict)
    projects: list[str] = field(default_factory=list)  # only jobs of these projects (if any)
    xprojects: list[str] = field(default_factory=list)  # no jobs of these projects
    denied_owners: frozenset[str] = frozenset()  # job owners its user_lists/xuser_lists keep out


@dataclass(slots=True)
class QueueInstanceSnap:
    """A queue on one host (``all.q@node1``)."""

    queue: str
    host: str
    seq_no: int = 0
    slots: int = 1
    used_slots: int = 0
    states: str = ""  # any of "dsauEcC" makes it unschedulable ('u': host not reporting)
    qtype: set[str] = field(default_factory=lambda: {"BATCH", "INTERACTIVE"})
    pe_list: list[str] = field(default_factory=list)
    complex_values: dict[str, str] = field(default_factory=dict)  # limits (h_rt...) + consumables
    consumed: dict[str, float] = field(default_factory=dict)
    load_thresholds: dict[str, str] = field(default_factory=dict)  # name -> alarm threshold
    denied_owners: frozenset[str] = frozenset()  # job owners user_lists/xuser_lists keep out
    ckpt_list: list[str] = field(default_factory=list)  # checkpointing interfaces it runs jobs of
    projects: list[str] = field(default_factory=list)  # only jobs of these projects (if any)
    xprojects: list[str] = field(default_factory=list)  # no jobs of these projects

    @property
    def name(self) -> str:
        return f"{self.queue}@{self.host}"


@dataclass(slots=True)
class PeSnap:
    """A parallel environment and the slots its running jobs hold."""

    name: str
    slots: int
    used_slots: int = 0
    allocation_rule: str = "$pe_slots"  # $pe_slots | $fill_up | $round_robin | "N"
    control_slaves: bool = False
    job_is_first_task: bool = True
    denied_owners: frozenset[str] = frozenset()  # job owners user_lists/xuser_lists keep out


@dataclass(slots=True)
class PendingJob:
    """A job with pending tasks, reduced to what scheduling needs."""

    job_id: int
    task_ids: list[int] = field(default_factory=lambda: [1])  # eligible pending tasks, in order
    running_tasks: int = 0
    task_concurrency: int = 0  # -tc; 0 = no limit
    priority: int = 0  # -p
    submit_time: float = 0.0
    owner: str = ""
    interactive: bool = False  # needs an INTERACTIVE queue, else BATCH
    hard_resources: dict[str, str] = field(default_factory=dict)  # -l; names may be shortcuts
    hard_queues: list[str] = field(default_factory=list)  # -q patterns (queue[@host])
    master_queues: list[str] = field(default_factory=list)  # -masterq
    pe: tuple[str, int, int] | None = None  # -pe (name pattern, min, max)
    start_time: float | None = None  # -a
    held: bool = False
    waiting_on: list[int] = field(default_factory=list)  # unfinished -hold_jid predecessors
    now: bool = False  # -now y
    checkpoint: str | None = None  # -ckpt: only queues whose ckpt_list names it
    # --- policies; the defaults take the job out of each of them
    project: str | None = None  # -P
    department: str = ""  # the owner's department (a DEPT user set); "" if none is known
    job_share: int = 0  # -js: functional shares of the job itself
    override_tickets: int = 0  # qalter -ot
    urgency: float = 0.0  # Grid Engine's urg (rrcontr + wtcontr + dlcontr), for the priority
    reserve: bool = False  # -R y
    ar_id: int | None = None  # -ar: runs only in this advance reservation
    # the scheduler's category_key of the fields above, worked out in the first pass that asks:
    # the master keeps a job's view across passes until the job changes (a new view)
    cat_key: tuple[object, ...] | None = field(default=None, init=False, repr=False, compare=False)


@dataclass(slots=True)
class RunningJob:
    """A running task: what the policies need to know of it (quota usage, when its slots
    come free, whose tickets it holds)."""

    job_id: int
    task_id: int = 1
    owner: str = ""
    project: str | None = None
    department: str = ""
    pe: str | None = None
    assignments: list[Assignment] = field(default_factory=list)  # master queue first
    hard_resources: dict[str, str] = field(default_factory=dict)  # -l, for quota consumables
    start_time: float = 0.0
    runtime: float = math.inf  # run-time limit it runs under (h_rt, else s_rt), seconds
    ar_id: int | None = None
    job_share: int = 0
    override_tickets: int = 0

    @property
    def slots(self) -> int:
        return sum(a.slots for a in self.assignments)


@dataclass(slots=True)
class AdvanceReservationSnap:
    """An advance reservation: its slots are kept for its window, for its jobs only."""

    ar_id: int
    start: float
    end: float
    assignments: list[Assignment] = field(default_factory=list)  # granted slots per queue instance
    pe: str | None = None


@dataclass(slots=True)
class ObjectShares:
    """Functional shares and override tickets of a user, project or department."""

    fshare: int = 0
    oticket: int = 0


@dataclass(slots=True)
class TicketConfig:
    """The ticket policies of sched_conf(5), and the objects they read. Given to a pass, it
    also makes the job order Grid Engine's priority (weight_priority * npprior +
    weight_urgency * nurg + weight_ticket * ntckts) instead of -p and submission time."""

    weight_tickets_functional: float = 0.0
    weight_tickets_share: float = 0.0
    weight_user: float = 0.25
    weight_project: float = 0.25
    weight_department: float = 0.25
    weight_job: float = 0.25
    share_override_tickets: bool = True
    share_functional_shares: bool = True
    max_functional_jobs_to_schedule: int = 200
    max_pending_tasks_per_job: int = 50
    policy_hierarchy: str = "OFS"
    weight_ticket: float = 0.5
    weight_urgency: float = 0.5
    weight_priority: float = 0.0
    compensation_factor: float = 5.0
    usage_weights: dict[str, float] = field(default_factory=lambda: {"cpu": 1.0, "mem": 0.0, "io": 0.0})
    share_tree: ShareNode | None = None
    users: dict[str, ObjectShares] = field(default_factory=dict)
    projects: dict[str, ObjectShares] = field(default_factory=dict)
    departments: dict[str, ObjectShares] = field(default_factory=dict)
    # decayed usage (cpu, mem, io ...) by (user, project or None)
    usage: dict[tuple[str, str | None], dict[str, float]] = field(default_factory=dict)


@dataclass(slots=True)
class Snapshot:
    """Everything one scheduling pass looks at."""

    now: float
    complexes: dict[str, ComplexDef] = field(default_factory=lambda: dict(DEFAULT_COMPLEXES))
    hosts: dict[str, HostSnap] = field(default_factory=dict)
    global_values: dict[str, str] = field(default_factory=dict)
    global_consumed: dict[str, float] = field(default_factory=dict)
    queue_instances: list[QueueInstanceSnap] = field(default_factory=list)
    pes: dict[str, PeSnap] = field(default_factory=dict)
    jobs: list[PendingJob] = field(default_factory=list)
    queue_sort_method: str = "load"  # load | seqno
    load_formula: str = "np_load_avg"
    # job_load_adjustments: added to a host's load per slot dispatched in the pass
    load_adjustments: dict[str, float] = field(default_factory=lambda: {"np_load_avg": 0.5})
    hostgroups: dict[str, list[str]] = field(default_factory=dict)  # "@name" -> host names
    max_reasons: int = 10  # scheduling-info lines kept per job
    # --- policies; each is off while its field keeps its default
    running: list[RunningJob] = field(default_factory=list)  # read by the policies only
    max_reservation: int = 0  # sched_conf max_reservation: reservations made per pass
    default_duration: float = math.inf  # run time assumed for jobs without h_rt/s_rt
    duration_offset: float = 60.0  # added to every run-time estimate (params DURATION_OFFSET)
    quotas: list[ResourceQuotaSet] = field(default_factory=list)  # only enabled sets apply
    usersets: dict[str, frozenset[str]] = field(default_factory=dict)  # ACL name -> entries
    user_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # owner -> unix groups
    advance_reservations: list[AdvanceReservationSnap] = field(default_factory=list)
    tickets: TicketConfig | None = None


@dataclass(slots=True)
class Assignment:
    queue: str
    host: str
    slots: int
    devices: dict[str, list[str]] = field(default_factory=dict)  # resource map ids granted here


@dataclass(slots=True)
class Dispatch:
    """Start one task: the first assignment is the master queue."""

    job_id: int
    task_id: int
    assignments: list[Assignment]
    pe: str | None = None
    pe_slots: int = 1


@dataclass(slots=True)
class Reservation:
    """Slots kept for a ``-R y`` job from ``start`` (the earliest the running jobs' limits
    allow) to ``end``; lower jobs may use them only if they are done before ``start``."""

    job_id: int
    task_id: int
    start: float
    end: float
    assignments: list[Assignment]
    pe: str | None = None
    pe_slots: int = 1


@dataclass(slots=True)
class JobPriority:
    """Tickets and priority of a pending job as qstat -ext/-pri show them (first task)."""

    tickets: float = 0.0
    otickets: float = 0.0
    ftickets: float = 0.0
    stickets: float = 0.0
    share: float = 0.0  # of all pending tickets
    ntickets: float = 0.5
    nurg: float = 0.5
    npprior: float = 0.5
    prio: float = 0.0


@dataclass(slots=True)
class Decision:
    dispatches: list[Dispatch] = field(default_factory=list)
    never: dict[int, str] = field(default_factory=dict)  # job -> why it can never run
    waiting: dict[int, list[str]] = field(default_factory=dict)  # job -> why it waits now
    immediate_failed: list[int] = field(default_factory=list)  # -now y jobs not started
    reservations: list[Reservation] = field(default_factory=list)
    priorities: Mapping[int, JobPriority] = field(default_factory=dict)  # with a TicketConfig only
    running_tickets: dict[tuple[int, int], JobPriority] = field(default_factory=dict)  # (job, task)
