"""What the master reports to qstat and qhost: plain records, formatted by ``qsys.cli.formats``.

They travel as maps (``to_wire``) and are rebuilt with ``from_wire``; unknown keys are
dropped so an older client can talk to a newer master.
"""

from __future__ import annotations

from qsys import record as dataclasses
from qsys.record import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a command milliseconds at run time
    from typing import Any, TypeVar
    R = TypeVar("R")



def to_wire(record: Any) -> dict[str, Any]:
    return dataclasses.asdict(record)


def from_wire(cls: type[R], data: dict[str, Any]) -> R:
    try:
        return cls(**data)  # the usual case: the master sent exactly the fields
    except TypeError:  # a newer master's extra fields
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class JobRow:
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


@dataclass
class QueueInstanceRow:
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
class HostRow:
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


@dataclass
class TaskDetail:
    """A running or finished task of a job, for ``qstat -j``."""

    task_id: int
    state: str
    queue: str
    start_time: float | None
    usage: dict[str, float] = field(default_factory=dict)


@dataclass
class JobDetail:
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

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> JobDetail:
        detail = from_wire(cls, data)
        detail.tasks = [from_wire(TaskDetail, t) if isinstance(t, dict) else t for t in detail.tasks]
        return detail
