"""Jobs and tasks as the master holds them, and their life cycle in one place.

``qw`` -> (``hqw`` held) -> ``t`` transferring -> ``r`` running -> finished (accounted and
forgotten) or ``Eqw`` error, ``dr``/``dt`` being deleted, ``Rr``/``Rq`` rerun. Pending tasks
of an array stay compact in a :class:`TaskSet`; only tasks that left it get a
:class:`Task`. ``to_record``/``from_record`` give the maps the store keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qsys.jobspec import JobSpec
from qsys.master.shared import (
    EMPTY_LIST,
    EMPTY_MAP,
    EMPTY_SET,
    SINGLE_TASK,
    SharedSpec,
    shared_set,
    shared_spec,
    sparse_spec,
    text,
)
from qsys.master.tasks import TaskSet
from qsys.store.image import Packed, pack, unpack

# task states (what qstat shows for a task that left the pending set)
TRANSFERRING = "t"
RUNNING = "r"
DELETING = "d"  # shown as "dr"/"dt" with the state it had

HOLD_TYPES = ("u", "o", "s")


@dataclass(slots=True)
class Assignment:
    """Slots of a task on one queue instance (and the resource map ids granted there)."""

    queue: str
    host: str
    slots: int
    devices: dict[str, list[str]] = field(default_factory=dict)  # RSMAP name -> ids

    def to_record(self) -> list[Any]:
        return [self.queue, self.host, self.slots, self.devices] if self.devices else [self.queue, self.host, self.slots]

    @classmethod
    def from_record(cls, data: list[Any]) -> Assignment:
        devices = data[3] if len(data) > 3 else {}
        return cls(data[0], data[1], data[2], {str(k): [str(i) for i in v] for k, v in devices.items()})


@dataclass(slots=True)
class Task:
    """A task that left the pending set: being transferred, running, or being deleted."""

    task_id: int
    state: str  # t | r
    assignments: list[Assignment]
    dispatch_time: float
    start_time: float | None = None
    pid: int = 0
    deleting: bool = False
    restarted: int = 0
    pe: str | None = None
    usage: dict[str, float] = field(default_factory=dict)  # finished pe tasks (accounting_summary)
    live: dict[str, dict[str, float]] = field(default_factory=dict)  # host -> usage now (liveusage)

    @property
    def master(self) -> Assignment:
        return self.assignments[0]

    @property
    def slots(self) -> int:
        return sum(a.slots for a in self.assignments)

    def shown_state(self) -> str:
        base = "t" if self.state == TRANSFERRING else ("Rr" if self.restarted else "r")
        return ("d" + base) if self.deleting else base

    def to_record(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "state": self.state,
            "assignments": [a.to_record() for a in self.assignments],
            "dispatch_time": self.dispatch_time,
            "start_time": self.start_time,
            "pid": self.pid,
            "deleting": self.deleting,
            "restarted": self.restarted,
            "pe": self.pe,
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Task:
        return cls(
            task_id=data["task_id"],
            state=data["state"],
            assignments=[Assignment.from_record(a) for a in data["assignments"]],
            dispatch_time=data["dispatch_time"],
            start_time=data.get("start_time"),
            pid=data.get("pid", 0),
            deleting=data.get("deleting", False),
            restarted=data.get("restarted", 0),
            pe=data.get("pe"),
        )


_DEFAULT_SPEC = JobSpec().to_wire()
_FRESH = [name for name, value in _DEFAULT_SPEC.items() if isinstance(value, (list, dict))]


@dataclass(slots=True)
class Job:
    """A job the master holds. 100,000 pending ones must fit in a few hundred MB: what many
    jobs hold equal (specs' lists and maps, hold sets, empty containers) is shared and
    read-only (qsys.master.shared), so a change replaces a value instead of editing it."""

    job_id: int
    spec: JobSpec
    owner: str
    uid: int
    group: str
    gid: int
    submit_time: float
    submit_host: str
    pending: TaskSet
    holds: frozenset[str] = EMPTY_SET
    predecessors: frozenset[int] = EMPTY_SET  # unfinished -hold_jid jobs
    ad_predecessors: frozenset[int] = EMPTY_SET  # unfinished -hold_jid_ad array jobs
    error: str = ""  # set: the job is in error state (Eqw)
    never_reason: str = ""  # the scheduler found it can never run
    tasks: dict[int, Task] = field(default_factory=dict)
    restarts: dict[int, int] = field(default_factory=lambda: EMPTY_MAP)  # task id -> times rerun
    outcomes: list[dict[str, Any]] = field(default_factory=lambda: EMPTY_LIST)  # how tasks ended (finished.py)
    # the spec as the store packs it, made once: every start and end of a task stores the job
    # again, and a spec is replaced (qalter), never changed in place. Bytes, not the wire map,
    # and shared by the jobs whose specs pack the same (Job.new, replace_spec)
    spec_packed: SharedSpec | None = field(default=None, repr=False, compare=False)

    @classmethod
    def new(cls, job_id: int, spec: JobSpec, owner: str, uid: int, group: str, gid: int,
            submit_time: float, submit_host: str) -> Job:
        job = cls(job_id, spec, text(owner), uid, text(group), gid, submit_time, text(submit_host),
                  TaskSet(spec.tasks or SINGLE_TASK))
        job.replace_spec(spec)
        if spec.hold:
            job.set_holds({"u"})
        return job

    def set_holds(self, holds: set[str] | frozenset[str]) -> None:
        self.holds = shared_set(holds)

    def set_predecessors(self, predecessors: set[int] | frozenset[int], array: bool = False) -> None:
        """What the job waits for (``array``: -hold_jid_ad); the successor index is the
        master's (``Master.set_predecessors``)."""
        if array:
            self.ad_predecessors = shared_set(predecessors)
        else:
            self.predecessors = shared_set(predecessors)

    def replace_spec(self, spec: JobSpec) -> None:
        """A new spec (submit, qalter, load): the one equal jobs share, never edited in place."""
        self.spec_packed = shared_spec(spec)
        self.spec = self.spec_packed.spec

    # ------------------------------------------------------------ derived state

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_array(self) -> bool:
        return self.spec.tasks is not None

    @property
    def finished(self) -> bool:
        """Nothing pending and nothing running: the job can be forgotten."""
        return not self.pending and not self.tasks

    def pending_state(self) -> str:
        """Grid Engine's state text for the pending part of the job."""
        if self.error:
            return "Eqw"
        if self.holds or self.predecessors:
            return "hqw"
        if self.spec.start_time:
            return "qw"
        return "qw"

    def eligible(self, now: float) -> bool:
        """May the scheduler consider the pending tasks now?"""
        return bool(self.pending) and not (self.error or self.holds or self.predecessors)

    # ------------------------------------------------------------ store records

    def _spec_packed(self) -> Packed:
        kept = self.spec_packed
        if kept is None or kept.spec is not self.spec:  # set directly (a trial copy: qsys.master.verify)
            return Packed(pack(sparse_spec(self.spec)))
        return kept.packed

    def spec_map(self) -> dict[str, Any]:
        """The spec's whole wire form (a start order's), from the kept bytes: ~3x cheaper
        than ``spec.to_wire()``."""
        whole = dict(_DEFAULT_SPEC)
        for name in _FRESH:
            whole[name] = type(whole[name])()  # each start order its own lists and maps
        whole.update(unpack(self._spec_packed()))
        return whole

    def to_record(self) -> dict[str, Any]:
        return {
            "spec": self._spec_packed(),
            "owner": self.owner,
            "uid": self.uid,
            "group": self.group,
            "gid": self.gid,
            "submit_time": self.submit_time,
            "submit_host": self.submit_host,
            "pending": self.pending.to_wire(),
            "holds": sorted(self.holds),
            "predecessors": sorted(self.predecessors),
            "ad_predecessors": sorted(self.ad_predecessors),
            "error": self.error,
            "restarts": {str(k): v for k, v in self.restarts.items()},
            "outcomes": self.outcomes,
        }

    @classmethod
    def from_record(cls, job_id: int, data: dict[str, Any]) -> Job:
        spec = data["spec"]
        job = cls(
            job_id=job_id,
            spec=JobSpec.from_wire(unpack(spec) if isinstance(spec, bytes) else spec),
            owner=text(data["owner"]),
            uid=data["uid"],
            group=text(data["group"]),
            gid=data["gid"],
            submit_time=data["submit_time"],
            submit_host=text(data["submit_host"]),
            pending=TaskSet.from_wire(data["pending"]),
        )
        job.replace_spec(job.spec)
        job.set_holds(set(data.get("holds", ())))
        job.set_predecessors(set(data.get("predecessors", ())))
        job.set_predecessors(set(data.get("ad_predecessors", ())), array=True)
        job.error = data.get("error", "")
        restarts = data.get("restarts")
        if restarts:
            job.restarts = {int(k): v for k, v in restarts.items()}
        outcomes = data.get("outcomes")
        if outcomes:
            job.outcomes = list(outcomes)
        return job

    def state_label(self) -> str:
        """One word for the store's index column."""
        if self.tasks:
            return "running"
        return "error" if self.error else "pending"
