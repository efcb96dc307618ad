"""What the master answers to clients: typed rows and replies, formatted by ``qsys.cli``.

They travel as typed maps (``qsys.record.to_map``/``from_map``: every field checked on
arrival, unknown keys dropped so an older client can talk to a newer master). Each also
reads like the map it travels as (``row["job_id"]``, ``row.get("load")``): the library API
handed out maps before it handed out records, and scripts written then keep working.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView

from qsys import record as dataclasses
from qsys.record import dataclass, field, from_map

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a command milliseconds at run time
    from typing import Any, TypeVar
    R = TypeVar("R")


def to_wire(record: Any) -> dict[str, Any]:
    """Every field of a record as plain data (nested records too): for JSON output."""
    return dataclasses.asdict(record)


def from_wire(cls: type[R], data: dict[str, Any]) -> R:
    """The record ``cls`` of a map (fields checked, unknown keys dropped)."""
    return from_map(cls, data)


if TYPE_CHECKING:
    _ReadOnlyMap = Mapping[str, Any]
else:
    _ReadOnlyMap = object


class Row(_ReadOnlyMap):
    """Read access by field name: ``row["job_id"]`` is ``row.job_id`` (a read-only Mapping;
    registered as one rather than derived, which would make every row class an ABC)."""

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
    project: str | None = None
    department: str = "defaultdep"
    usage: dict[str, float] | None = None  # cpu (s), mem (GB s), io (GB), vmem, maxvmem (bytes)
    # hosts/queues of a parallel job's slave tasks: [{"queue": ..., "slots": n}]
    slave_queues: list[dict[str, Any]] = field(default_factory=list)
    # qstat -urg/-pri: nurg urg rrcontr wtcontr dlcontr npprior ntckts ppri (qsys.master.urgency)
    urgency: dict[str, float] | None = None
    # qstat -ext: ntckts tckts ovrts otckt ftckt stckt share (the tickets of the last pass)
    tickets: dict[str, float] | None = None


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
