"""What the master answers to clients: typed rows and replies, formatted by ``qsys.cli``.

They travel as typed maps (``qsys.record.to_map``/``from_map``: every field checked on
arrival, unknown keys dropped so an older client can talk to a newer master). Their JSON form
(:func:`json_form`) is what the commands' ``--json`` and qsys-restd print, described by
``qsys.schemas``. The older rows also read like the map they travel as (``row["job_id"]``):
the library API handed out maps before it handed out records; ``qsys.cluster`` still reads
them so (qsys itself and its tests read attributes).
"""

from __future__ import annotations

# collections.abc without the collections package (2 ms of every command)
from _collections_abc import ItemsView, KeysView, Mapping, ValuesView

from qsys import record as dataclasses
from qsys.record import dataclass, field, from_map

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a command milliseconds at run time
    from collections.abc import Iterator
    from typing import Any, TypeVar
    R = TypeVar("R")


def json_form(value: Any) -> Any:
    """The JSON form of a record, or of lists and maps of them: every field (also at its
    default), nested records alike, and the values the class derives from its fields
    (``__json_derived__``: ``JobRow.state_family``). The one function behind the commands'
    ``--json`` and qsys-restd's answers, so both give the same fields for the same object."""
    cls = type(value)
    if hasattr(cls, "__record_fields__"):
        out = {f.name: json_form(getattr(value, f.name)) for f in cls.__record_fields__}
        for name in getattr(cls, "__json_derived__", ()):
            out[name] = json_form(getattr(value, name))
        return out
    if cls is dict or isinstance(value, dict):
        return {str(k): json_form(v) for k, v in value.items()}
    if cls is list or isinstance(value, (list, tuple)):
        return [json_form(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def from_wire(cls: type[R], data: dict[str, Any]) -> R:
    """The record ``cls`` of a map (fields checked, unknown keys dropped)."""
    return from_map(cls, data)


def state_family(state: str, queue: str) -> str:
    """The family of a Grid Engine job state: pending, held, error, transferring, running,
    suspended or deleting (what the dashboard filters by, ``qsys_jobs{state=...}``)."""
    if not queue:
        if "E" in state:
            return "error"
        return "held" if "h" in state else "pending"
    if "d" in state:
        return "deleting"
    if "t" in state:
        return "transferring"
    if any(c in state for c in "sST"):
        return "suspended"
    return "running"


if TYPE_CHECKING:
    _ReadOnlyMap = Mapping[str, Any]
else:
    _ReadOnlyMap = object


class Row(_ReadOnlyMap):
    """Read access by field name: ``row["job_id"]`` is ``row.job_id`` (a read-only Mapping;
    registered as one rather than derived, which would make every row class an ABC).

    For scripts written against the maps the library API once handed out; qsys reads
    attributes (``qsys.cluster`` is the last reader of the map form: once it moves, this
    class can go)."""

    def __getitem__(self, name: str) -> Any:
        if name in self._names():
            return getattr(self, name)
        raise KeyError(name)

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name) if name in self._names() else default

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def keys(self) -> KeysView[str]:
        return KeysView(self)

    def items(self) -> ItemsView[str, Any]:
        return ItemsView(self)

    def values(self) -> ValuesView[Any]:
        return ValuesView(self)

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        names = cls.__dict__.get("_field_names")
        if names is None:
            names = tuple(f.name for f in dataclasses.fields(cls))
            cls._field_names = names  # type: ignore[attr-defined]
        return names


Mapping.register(Row)


@dataclass
class TaskOutcome(Row):
    """How tasks of a finished job ended; the tasks that ended alike share one (``tasks``:
    "" for a job that is not an array, else "1", "1-3:1", "1,4-9:1")."""

    tasks: str
    exit_status: int = 0
    signal: int = 0
    failed: int = 0
    deleted: bool = False  # deleted (qdel) before or while it ran
    start_time: float | None = None  # the earliest start of these tasks (None: none ran)
    end_time: float = 0.0  # the latest end


@dataclass
class JobRow(Row):
    """One line of qstat: a pending job (its pending tasks compacted in ``tasks``) or one
    running/finishing task (``tasks`` is its task id, "" when not an array job)."""

    job_id: int
    priority: float  # normalized priority, printed "%.5f"
    name: str
    owner: str
    state: str  # qw hqw Eqw t r Rr s S T dr dt ...
    submit_time: float
    start_time: float | None
    queue: str  # "all.q@host" for running tasks, "" for pending
    slots: int
    tasks: str  # "", "2" (a running task) or "1-3:1", "1,4-9:1" (pending tasks)
    is_array: bool = False
    # --- extras for -r, -ext, -t, -xml
    hard_resources: dict[str, str] = field(default_factory=dict)
    soft_resources: dict[str, str] = field(default_factory=dict)
    hard_queues: list[str] = field(default_factory=list)
    soft_queues: list[str] = field(default_factory=list)
    requested_pe: str | None = None  # "smp 2" / "mpi 2-4"
    granted_pe: str | None = None  # "smp 2"
    master_queue: str = ""
    hold_jids: list[str] = field(default_factory=list)
    hold_jids_ad: list[str] = field(default_factory=list)  # -hold_jid_ad as requested
    predecessors: list[int] = field(default_factory=list)  # unfinished -hold_jid jobs
    ad_predecessors: list[int] = field(default_factory=list)  # unfinished -hold_jid_ad jobs
    checkpoint: str | None = None  # -ckpt
    project: str | None = None
    department: str = "defaultdep"
    usage: dict[str, float] | None = None  # cpu (s), mem (GB s), io (GB), vmem, maxvmem (bytes)
    # hosts/queues of a parallel job's slave tasks: [{"queue": ..., "slots": n}]
    slave_queues: list[dict[str, Any]] = field(default_factory=list)
    # qstat -urg/-pri: nurg urg rrcontr wtcontr dlcontr npprior ntckts ppri (qsys.master.urgency)
    urgency: dict[str, float] | None = None
    # qstat -ext: ntckts tckts ovrts otckt ftckt stckt share (the tickets of the last pass)
    tickets: dict[str, float] | None = None
    # a finished job (state "z", qstat -s z): how its tasks ended
    outcomes: list[TaskOutcome] = field(default_factory=list)

    __json_derived__ = ("state_family",)

    @property
    def state_family(self) -> str:
        """pending, held, error, transferring, running, suspended or deleting."""
        return state_family(self.state, self.queue)


@dataclass
class QueueInstanceRow(Row):
    """One queue instance for ``qstat -f`` (and ``qhost -q``)."""

    name: str  # "all.q@host"
    qtype: str  # "BIP"
    reserved: int
    used: int
    total: int
    load_avg: float | None  # None when the host reports no load ("-NA-")
    arch: str
    states: str  # "", "u", "d", "au", "E", ...
    messages: list[str] = field(default_factory=list)  # why it is in E (qstat -explain E)


@dataclass
class HostJob:
    """A task running on a host (``qhost -j``): in its master queue or a slave queue."""

    job_id: int
    task: str  # the task id of an array task, else ""
    name: str
    owner: str
    state: str
    start_time: float | None
    queue: str  # the queue instance on this host
    role: str  # MASTER | SLAVE


@dataclass
class HostRow(Row):
    """One exec host for qhost."""

    name: str
    arch: str
    ncpu: int
    nsoc: int
    ncor: int
    nthr: int
    load: float | None
    mem_total: int  # bytes
    mem_used: int
    swap_total: int
    swap_used: int
    queues: list[QueueInstanceRow] = field(default_factory=list)
    load_values: dict[str, str] = field(default_factory=dict)  # qhost -F
    resources: dict[str, str] = field(default_factory=dict)  # qhost -F: resource maps, "1(1)" (free ids)
    # the tasks running here (qhost -j): filled by the client from the job rows
    jobs: list[HostJob] = field(default_factory=list)

    __json_derived__ = ("state",)

    @property
    def state(self) -> str:
        """up (it reports load) or down."""
        return "down" if self.load is None else "up"


@dataclass
class TaskDetail(Row):
    """A running or finished task of a job, for ``qstat -j``."""

    task_id: int
    state: str
    queue: str
    start_time: float | None
    usage: dict[str, float] = field(default_factory=dict)


@dataclass
class JobDetail(Row):
    """Everything ``qstat -j`` prints for one job."""

    job_id: int
    spec: dict[str, Any]  # JobSpec.to_wire()
    owner: str
    uid: int
    group: str
    gid: int
    submit_time: float
    state: str
    pending_tasks: str = ""  # "1-3:1" for arrays
    tasks: list[TaskDetail] = field(default_factory=list)
    scheduling_info: list[str] = field(default_factory=list)
    error_reason: str = ""
    predecessors: list[int] = field(default_factory=list)
    successors: list[int] = field(default_factory=list)
    # the policies: tickets of the job (tckts otckt ftckt stckt share), its reservation
    # (start, end, [[queue instance, slots], ...]) and the resource map ids its tasks hold
    # (per task: "gpu=node1=(0 1)" lines)
    tickets: dict[str, float] = field(default_factory=dict)
    reservation: dict[str, Any] = field(default_factory=dict)
    devices: dict[str, list[str]] = field(default_factory=dict)
    ad_predecessors: list[int] = field(default_factory=list)  # -hold_jid_ad (ja_ad_predecessor_list)
    ad_successors: list[int] = field(default_factory=list)
    outcomes: list[TaskOutcome] = field(default_factory=list)  # a finished job (state "z")
    end_time: float | None = None  # a finished job: when its last task ended


@dataclass
class ClusterQueueRow(Row):
    """One cluster queue for ``qstat -g c``: slots in use, free, and out of use."""

    name: str
    load: float | None = None  # mean np_load_avg of its hosts (None: none reports)
    used: int = 0
    resv: int = 0
    available: int = 0
    total: int = 0
    temp_disabled: int = 0  # in instances with a passing state (aoACDS)
    manual_intervention: int = 0  # in instances that need an operator (cdsuE)


@dataclass
class QuotaRow(Row):
    """One line of ``qquota``: a resource quota rule ("set/name" or "set/N"), its limits
    as [resource, limit] or [resource, limit, used], and its filters as [kind, text, xml text]
    (the member counted where the filter is expanded)."""

    rule: str
    limits: list[list[str]] = field(default_factory=list)
    filters: list[list[str]] = field(default_factory=list)


@dataclass
class Submitted(Row):
    """What a submitter is told of a new job."""

    job_id: int
    name: str
    tasks: list[int] | None = None  # [first, last, step] of an array job
    ends: list[TaskEnd] = field(default_factory=list)  # qsub -sync y: filled by qsub after the wait
    warnings: list[str] = field(default_factory=list)  # -w w: "warning: no suitable queues"

    __json_derived__ = ("message",)

    @property
    def message(self) -> str:
        """What qsub prints: ``Your job 3 ("x") has been submitted``."""
        if self.tasks:
            first, last, step = self.tasks
            return f'Your job-array {self.job_id}.{first}-{last}:{step} ("{self.name}") has been submitted'
        return f'Your job {self.job_id} ("{self.name}") has been submitted'


@dataclass
class TaskEnd(Row):
    """How one task of a job ended, for ``qsub -sync y``."""

    job_id: int
    task_id: int
    exit_status: int = 0
    signal: int = 0
    failed: int = 0
    deleted: bool = False
    is_array: bool = False


# ---------------------------------------------------------------- the master's own figures


@dataclass
class MetricHistogram:
    """One histogram of the master in Prometheus' form: cumulative counts per upper bound."""

    name: str  # qsys_scheduling_pass_seconds, ...
    help: str
    bounds: list[float]  # upper bounds of the buckets, ascending (+Inf follows implicitly)
    cumulative: list[int]  # observations <= each bound, then all of them (len(bounds) + 1)
    sum: float = 0.0
    max: float = 0.0  # the largest observation (not part of Prometheus' form)

    @property
    def count(self) -> int:
        return self.cumulative[-1] if self.cumulative else 0

    def quantile(self, q: float) -> float:
        """The ``q``-quantile estimated as Prometheus' ``histogram_quantile`` does (linear
        within a bucket; the largest observation when it falls in the +Inf bucket)."""
        if not self.count:
            return 0.0
        rank = q * self.count
        lower_bound, lower_count = 0.0, 0
        for bound, count in zip(self.bounds, self.cumulative, strict=False):
            if count >= rank:
                width = count - lower_count
                return lower_bound + (bound - lower_bound) * ((rank - lower_count) / width if width else 1.0)
            lower_bound, lower_count = bound, count
        return self.max


@dataclass
class MetricValue:
    """One counter or gauge value of the master (``labels``: one series of a family)."""

    name: str  # qsys_dispatches_total, ...
    help: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class MasterMetrics:
    """What only the master can measure (reply to ``MetricsStatus``): qsys-restd serves it at
    /metrics, benchmarks read the scheduling pass time from it."""

    histograms: list[MetricHistogram] = field(default_factory=list)
    counters: list[MetricValue] = field(default_factory=list)
    gauges: list[MetricValue] = field(default_factory=list)

    def histogram(self, name: str) -> MetricHistogram:
        """The histogram called ``name``; KeyError when the master has none of that name."""
        for item in self.histograms:
            if item.name == name:
                return item
        raise KeyError(name)

    def counter(self, name: str, **labels: str) -> float:
        """The value of one counter series (0 when it has not counted yet)."""
        return sum(c.value for c in self.counters if c.name == name and c.labels == labels)

    def gauge(self, name: str, **labels: str) -> float:
        """The value of one gauge series (0 when the master has none)."""
        return sum(g.value for g in self.gauges if g.name == name and g.labels == labels)
