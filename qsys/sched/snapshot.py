"""What the scheduler reads (a snapshot of the cluster) and what it returns (orders).

Plain data only: the master builds a :class:`Snapshot` from its memory, calls
``qsys.sched.schedule`` and applies the :class:`Decision`. Nothing here does I/O, and the
scheduler never mutates the snapshot (it keeps its own working copy of what a pass used).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


# Son of Grid Engine 8.1.9's default complexes (``qconf -sc`` of a fresh installation).
_DEFAULT_TABLE = """
#name               shortcut   type      relop requestable consumable default  urgency
#--------------------------------------------------------------------------------------
arch                a          STRING    ==    YES         NO         NONE     0
calendar            c          STRING    ==    YES         NO         NONE     0
cpu                 cpu        DOUBLE    >=    YES         NO         0        0
display_win_gui     dwg        BOOL      ==    YES         NO         0        0
h_core              h_core     MEMORY    <=    YES         NO         0        0
h_cpu               h_cpu      TIME      <=    YES         NO         0:0:0    0
h_data              h_data     MEMORY    <=    YES         NO         0        0
h_fsize             h_fsize    MEMORY    <=    YES         NO         0        0
h_rss               h_rss      MEMORY    <=    YES         NO         0        0
h_rt                h_rt       TIME      <=    YES         NO         0:0:0    0
h_stack             h_stack    MEMORY    <=    YES         NO         0        0
h_vmem              h_vmem     MEMORY    <=    YES         NO         0        0
hostname            h          HOST      ==    YES         NO         NONE     0
load_avg            la         DOUBLE    >=    NO          NO         0        0
load_long           ll         DOUBLE    >=    NO          NO         0        0
load_medium         lm         DOUBLE    >=    NO          NO         0        0
load_short          ls         DOUBLE    >=    NO          NO         0        0
m_core              core       INT       <=    YES         NO         0        0
m_socket            socket     INT       <=    YES         NO         0        0
m_thread            thread     INT       <=    YES         NO         0        0
m_topology          topo       STRING    ==    YES         NO         NONE     0
m_topology_inuse    utopo      STRING    ==    YES         NO         NONE     0
mem_free            mf         MEMORY    <=    YES         NO         0        0
mem_total           mt         MEMORY    <=    YES         NO         0        0
mem_used            mu         MEMORY    >=    YES         NO         0        0
min_cpu_interval    mci        TIME      <=    NO          NO         0:0:0    0
np_load_avg         nla        DOUBLE    >=    NO          NO         0        0
np_load_long        nll        DOUBLE    >=    NO          NO         0        0
np_load_medium      nlm        DOUBLE    >=    NO          NO         0        0
np_load_short       nls        DOUBLE    >=    NO          NO         0        0
num_proc            p          INT       ==    YES         NO         0        0
qname               q          STRING    ==    YES         NO         NONE     0
rerun               re         BOOL      ==    NO          NO         0        0
s_core              s_core     MEMORY    <=    YES         NO         0        0
s_cpu               s_cpu      TIME      <=    YES         NO         0:0:0    0
s_data              s_data     MEMORY    <=    YES         NO         0        0
s_fsize             s_fsize    MEMORY    <=    YES         NO         0        0
s_rss               s_rss      MEMORY    <=    YES         NO         0        0
s_rt                s_rt       TIME      <=    YES         NO         0:0:0    0
s_stack             s_stack    MEMORY    <=    YES         NO         0        0
s_vmem              s_vmem     MEMORY    <=    YES         NO         0        0
seq_no              seq        INT       ==    NO          NO         0        0
slots               s          INT       <=    YES         YES        1        1000
swap_free           sf         MEMORY    <=    YES         NO         0        0
swap_rate           sr         MEMORY    >=    YES         NO         0        0
swap_rsvd           srsv       MEMORY    >=    YES         NO         0        0
swap_total          st         MEMORY    <=    YES         NO         0        0
swap_used           su         MEMORY    >=    YES         NO         0        0
tmpdir              tmp        STRING    ==    NO          NO         NONE     0
virtual_free        vf         MEMORY    <=    YES         NO         0        0
virtual_total       vt         MEMORY    <=    YES         NO         0        0
virtual_used        vu         MEMORY    >=    YES         NO         0        0
"""

DEFAULT_COMPLEXES: dict[str, ComplexDef] = parse_complex_table(_DEFAULT_TABLE)


@dataclass(slots=True)
class HostSnap:
    """An exec host: its load report, fixed/consumable values and what is consumed."""

    name: str
    load: dict[str, str] = field(default_factory=dict)  # load_avg, np_load_avg, mem_free, arch...
    complex_values: dict[str, str] = field(default_factory=dict)  # capacities and fixed values
    consumed: dict[str, float] = field(default_factory=dict)  # by running jobs


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


@dataclass(slots=True)
class Assignment:
    queue: str
    host: str
    slots: int


@dataclass(slots=True)
class Dispatch:
    """Start one task: the first assignment is the master queue."""

    job_id: int
    task_id: int
    assignments: list[Assignment]
    pe: str | None = None
    pe_slots: int = 1


@dataclass(slots=True)
class Decision:
    dispatches: list[Dispatch] = field(default_factory=list)
    never: dict[int, str] = field(default_factory=dict)  # job -> why it can never run
    waiting: dict[int, list[str]] = field(default_factory=dict)  # job -> why it waits now
    immediate_failed: list[int] = field(default_factory=list)  # -now y jobs not started
