"""Finished jobs stay visible: Grid Engine's zombie list (``qstat -s z``; ``-s f`` as Open
Cluster Scheduler 9.2 calls it), ``qstat -j`` with each task's exit status and end time.

While a job runs, the ends of its tasks are kept in the job (``Job.outcomes``: tasks that
ended the same way share one entry, their ids as ranges, so an array of 75,000 tasks that all
exit 0 is one entry). When the job leaves the master -- in the same step, so it is never
missing from qstat -- it enters this list, and stays until ``finished_jobs`` newer jobs pushed
it out or it finished longer than ``finished_jobs_keep_time`` ago (0: no time limit);
``finished_jobs 0`` keeps none, as in Grid Engine. Each entry is a store object of its own
(``finished_job``), written in the commit that ends the job, so the list survives a restart.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qsys.store import DeleteObject, PutObject

if TYPE_CHECKING:
    from qsys.master.config import ClusterConfig
    from qsys.master.jobs import Job

KIND = "finished_job"  # the store's objects of this list
DEFAULT_KEPT = 100  # finished_jobs when the configuration does not say


# ---------------------------------------------------------------- how the tasks ended

def record_outcome(job: Job, runs: Iterable[tuple[int, int]], exit_status: int = 0, signal: int = 0,
                   failed: int = 0, deleted: bool = False, start_time: float | None = None,
                   end_time: float = 0.0) -> None:
    """Add tasks that ended one way to ``job.outcomes`` (entries are plain maps: they are
    stored with the job). ``runs``: ``(first, last)`` task ids in the job's step (qdel of a
    pending 1,000,000-task array is one run, not a million ids)."""
    runs = list(runs)
    if not runs:
        return
    key = [exit_status, signal, failed, deleted]
    entry = next((o for o in job.outcomes if o["key"] == key), None)
    if entry is None:
        entry = {"key": key, "start": start_time, "end": end_time, "ranges": []}
        job.outcomes = [*job.outcomes, entry]  # the job's first may be the shared empty list
    if start_time is not None and (entry["start"] is None or start_time < entry["start"]):
        entry["start"] = start_time
    entry["end"] = max(entry["end"], end_time)
    step = job.spec.tasks.step if job.spec.tasks is not None else 1
    for first, last in runs:
        _insert(entry["ranges"], first, last, step)


def _insert(ranges: list[list[int]], first: int, last: int, step: int) -> None:
    """Put the ids ``first..last`` into sorted disjoint ``[first, last]`` runs of ids ``step``
    apart, joining the runs it overlaps or touches."""
    lo = bisect.bisect_left(ranges, [first, first])
    if lo > 0 and ranges[lo - 1][1] + step >= first:
        lo -= 1
    hi = lo
    while hi < len(ranges) and ranges[hi][0] <= last + step:
        hi += 1
    if lo < hi:
        first, last = min(first, ranges[lo][0]), max(last, ranges[hi - 1][1])
    ranges[lo:hi] = [[first, last]]


def outcome_ids(entry: dict[str, Any], step: int) -> list[int]:
    return [i for first, last in entry["ranges"] for i in range(first, last + 1, step)]


# ---------------------------------------------------------------- the list


@dataclass(slots=True)
class FinishedJob:
    """What is kept of a finished job: enough for its qstat -s z row and qstat -j."""

    job_id: int
    name: str
    owner: str
    uid: int
    group: str
    gid: int
    submit_time: float
    slots: int
    spec: dict[str, Any]  # JobSpec.to_wire() without the script
    end_time: float
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_array(self) -> bool:
        return self.spec.get("tasks") is not None

    @property
    def step(self) -> int:
        tasks = self.spec.get("tasks")
        return int(tasks["step"]) if tasks else 1

    def task_runs(self) -> list[list[int]]:
        """Every task's id, however it ended, as ``[first, last]`` runs of the job's step."""
        runs: list[list[int]] = []
        for first, last in sorted(run for entry in self.outcomes for run in entry["ranges"]):
            _insert(runs, first, last, self.step)
        return runs

    def to_record(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "name": self.name, "owner": self.owner, "uid": self.uid,
                "group": self.group, "gid": self.gid, "submit_time": self.submit_time, "slots": self.slots,
                "spec": self.spec, "end_time": self.end_time, "outcomes": self.outcomes}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> FinishedJob:
        return cls(**{k: data[k] for k in ("job_id", "name", "owner", "uid", "group", "gid", "submit_time",
                                          "slots", "spec", "end_time")}, outcomes=list(data.get("outcomes", [])))

    @classmethod
    def of(cls, job: Job, end_time: float, slots: int) -> FinishedJob:
        shared = job.spec_packed
        if shared is not None and shared.spec is job.spec:
            spec = shared.finished_form()
        else:
            spec = job.spec.to_wire()
            spec.pop("script", None)
        return cls(job.job_id, job.name, job.owner, job.uid, job.group, job.gid, job.submit_time, slots, spec,
                   max([end_time, *(o["end"] for o in job.outcomes)]), list(job.outcomes))


def limits(config: ClusterConfig) -> tuple[int, float]:
    """(finished_jobs, finished_jobs_keep_time in seconds; 0: no time limit)."""
    conf = config.global_conf
    kept = DEFAULT_KEPT if conf.finished_jobs is None else max(0, conf.finished_jobs)
    keep = conf.finished_jobs_keep_time
    return kept, (keep.seconds if keep is not None else 0.0)


class FinishedJobs:
    """The finished jobs, oldest first."""

    def __init__(self) -> None:
        self.jobs: OrderedDict[int, FinishedJob] = OrderedDict()

    def load(self, objects: dict[tuple[str, str], dict[str, Any]]) -> None:
        found = [FinishedJob.from_record(record) for (kind, _), record in objects.items() if kind == KIND]
        for entry in sorted(found, key=lambda e: (e.end_time, e.job_id)):
            self.jobs[entry.job_id] = entry

    def add(self, job: Job, now: float, config: ClusterConfig, slots: int) -> list[Any]:
        """``job`` has left the master: keep it (and drop what the limits push out); the store
        changes to commit with its end."""
        kept, _ = limits(config)
        changes: list[Any] = []
        if kept > 0:
            entry = FinishedJob.of(job, now, slots)
            self.jobs[job.job_id] = entry
            changes.append(PutObject(KIND, str(job.job_id), entry.to_record()))
        return changes + self.expire(now, config)

    def restore(self, name: str, record: dict[str, Any] | None) -> None:
        """Undo a refused change of one entry: hold it as the store has it."""
        self.jobs.pop(int(name), None)
        if record is not None:
            entry = FinishedJob.from_record(record)
            self.jobs[entry.job_id] = entry
            for job_id in [j for j, e in self.jobs.items() if e.end_time > entry.end_time]:
                self.jobs.move_to_end(job_id)  # oldest first again

    def expire(self, now: float, config: ClusterConfig) -> list[Any]:
        """Drop the entries beyond finished_jobs and older than finished_jobs_keep_time."""
        kept, keep_time = limits(config)
        changes: list[Any] = []
        while self.jobs:
            job_id, oldest = next(iter(self.jobs.items()))
            if len(self.jobs) <= kept and not (keep_time and oldest.end_time + keep_time < now):
                break
            del self.jobs[job_id]
            changes.append(DeleteObject(KIND, str(job_id)))
        return changes

    def visible(self, now: float, config: ClusterConfig) -> list[FinishedJob]:
        """The entries to show now (the time limit applies even before the next expiry)."""
        kept, keep_time = limits(config)
        shown = list(self.jobs.values())[-kept:] if kept else []
        return [e for e in shown if not (keep_time and e.end_time + keep_time < now)]

    def get(self, job_id: int, now: float, config: ClusterConfig) -> FinishedJob | None:
        entry = self.jobs.get(job_id)
        return entry if entry is not None and entry in self.visible(now, config) else None
