"""Job priority as Grid Engine computes it (sge_priority(5)), for qstat -urg, -pri and -ext.

``urg = rrcontr + wtcontr + dlcontr``: the resource requirement contribution (each requested
complex's urgency, numeric ones times the amount and, for per-slot consumables, the slots;
``slots`` itself counts 1000 per slot by default), the waiting time contribution
(seconds waited times ``weight_waiting_time``) and the deadline contribution (none: we keep
no deadlines). ``nurg`` is urg min-max normalised over the jobs the scheduler considers
(running and eligible pending; all equal: 0.5), ``npprior`` the -p priority mapped from
-1023..1024 onto 0..1, ``ntckts`` the job's tickets over the most any job holds (0.5 while
no ticket policy hands out any), and
``prior = weight_priority*npprior + weight_urgency*nurg + weight_ticket*ntckts``, not
normalised again -- the figures Son of Grid Engine 8.1.9 prints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from qsys.master.snapshot import used_slots
from qsys.records import ClusterQueueRow

if TYPE_CHECKING:
    from qsys.master.core import Master
    from qsys.master.jobs import Job
    from qsys.master.queue_states import QueueStates
    from qsys.sched.snapshot import JobPriority

WEIGHTS = {"weight_priority": 1.0, "weight_urgency": 0.1, "weight_ticket": 0.01,
           "weight_waiting_time": 0.0, "weight_deadline": 3600000.0}


def _weight(master: Master, name: str) -> float:
    try:
        return float(master.config.sched_value(name, str(WEIGHTS[name])))
    except ValueError:
        return WEIGHTS[name]


def _normalize(values: dict[int, float]) -> dict[int, float]:
    if not values:
        return {}
    low, high = min(values.values()), max(values.values())
    if low == high:
        return dict.fromkeys(values, 0.5)
    return {k: (v - low) / (high - low) for k, v in values.items()}


def resource_contribution(master: Master, job: Job) -> float:
    """rrcontr: what the job's hard requests (and its slots) are worth."""
    from qsys.sched.values import parse_value

    config = master.config
    slots = job.spec.slots_requested()
    slots_def = config.resolve_complex("slots")
    total = float(slots_def.urgency if slots_def is not None else 1000) * slots
    for name, text in job.spec.hard_resources.items():
        cdef = config.resolve_complex(name)
        if cdef is None or not cdef.urgency or cdef.name == "slots":
            continue
        if cdef.type in ("INT", "DOUBLE", "MEMORY", "TIME"):
            try:
                amount = float(parse_value(cdef.type, text))
            except Exception:
                continue
            per = slots if cdef.consumable == "YES" else 1
            total += cdef.urgency * amount * per
        else:
            total += cdef.urgency
    return total


_RR_CACHE: dict[tuple[Any, ...], float] = {}


def _cached_contribution(master: Master, job: Job, complexes: int | None = None) -> float:
    """rrcontr by the job's requests: thousands of jobs share a few request sets, and the
    complex table (whose identity, ``complexes``, is part of the key) changes rarely."""
    spec = job.spec
    if complexes is None:
        complexes = id(master.config.complexes())
    key = (complexes, spec.slots_requested(), tuple(spec.hard_resources.items()) if spec.hard_resources else ())
    value = _RR_CACHE.get(key)
    if value is None:
        if len(_RR_CACHE) > 10000:
            _RR_CACHE.clear()
        value = _RR_CACHE[key] = resource_contribution(master, job)
    return value


def npprior(priority: int) -> float:
    """-p (-1023..1024) on 0..1, as Grid Engine normalises it."""
    return min(1.0, max(0.0, (priority + 1024) / 2048))


def waiting_weight(master: Master) -> float:
    return _weight(master, "weight_waiting_time")


def urgency_of(master: Master, job: Job, now: float, w_wait: float) -> float:
    """urg of a job (rrcontr + wtcontr; dlcontr is 0): what the ticket order weighs."""
    waited = 0.0 if job.tasks and not job.pending else max(0.0, now - job.submit_time)
    return _cached_contribution(master, job) + waited * w_wait


def priorities(master: Master, tickets: Mapping[int, JobPriority] | None = None,
               running: Mapping[tuple[int, int], JobPriority] | None = None) -> Priorities:
    """Per job: prior, nurg, npprior, ntckts, urg, rrcontr, wtcontr, dlcontr, ppri. ``tickets``
    and ``running``: what the last pass gave pending jobs and running tasks (None: no ticket
    policy is on). Every qstat asks for them all: the loop over the jobs is kept lean."""
    now = master.clock.now()
    w_wait = _weight(master, "weight_waiting_time")
    out = Priorities(master, now, w_wait)
    contribution = _contributions(master)
    urg: dict[int, float] = {}  # of the jobs the scheduler considers
    for job in master.jobs.values():
        if job.tasks or job.eligible(now):
            urg[job.job_id] = contribution(job)
            if w_wait and job.pending:
                urg[job.job_id] += max(0.0, now - job.submit_time) * w_wait
                out.timed = True
    out.nurg = nurg = _normalize(urg)
    w_pri, w_urg, w_tix = (_weight(master, n) for n in ("weight_priority", "weight_urgency", "weight_ticket"))
    running_by_job: dict[int, JobPriority] = {}
    for (job_id, _), figure in sorted((running or {}).items()):
        running_by_job.setdefault(job_id, figure)
    jobs = master.jobs
    weighed: dict[int, float] = {}  # -p priority -> its part of prior (a few distinct ones)
    prior, ntckts = out.prior, out.ntckts
    for job_id, normal in nurg.items():
        if tickets is None:
            share = 0.5
        else:
            held = tickets.get(job_id) if job_id in tickets else running_by_job.get(job_id)
            share = held.ntickets if held is not None else 0.0
        ntckts[job_id] = share
        ppri = jobs[job_id].spec.priority
        part = weighed.get(ppri)
        if part is None:
            part = weighed[ppri] = w_pri * npprior(int(float(ppri)))
        prior[job_id] = part + w_urg * normal + w_tix * share
    return out


# job id -> (its spec, the configuration's generation, rrcontr): a qstat asks for every
# considered job's, and a job's changes only with its spec (replaced, never changed in place)
# or the configuration (the complexes)
_BY_JOB: dict[int, tuple[Any, int, float]] = {}


def _contributions(master: Master) -> Callable[[Job], float]:
    """rrcontr of a job, from ``_BY_JOB`` while its spec and the configuration are the same."""
    generation = master.config.generation
    kept = _BY_JOB
    if len(kept) > 2 * len(master.jobs) + 64:  # jobs gone since
        for job_id in [j for j in kept if j not in master.jobs]:
            del kept[job_id]
    get = kept.get

    def contribution(job: Job) -> float:
        known = get(job.job_id)
        if known is None or known[0] is not job.spec or known[1] != generation:
            known = kept[job.job_id] = (job.spec, generation, _cached_contribution(master, job))
        return known[2]

    return contribution


class Priorities:
    """The figures of :func:`priorities`: ``prior`` and ``ntckts`` of the jobs the scheduler
    considers (the others have 0), every job's full figures by :meth:`figures` (qstat -urg,
    -pri; built only when asked: 5,000 maps of nine figures for a plain qstat were a fifth of
    its rows' cost)."""

    def __init__(self, master: Master, now: float, w_wait: float) -> None:
        self.master = master
        self.now = now
        self.w_wait = w_wait
        self.nurg: dict[int, float] = {}
        self.prior: dict[int, float] = {}
        self.ntckts: dict[int, float] = {}
        self.timed = False  # did the waiting time count (then the figures move with the clock)?

    def same(self, other: Priorities) -> bool:
        """Are the priorities and tickets shown the same as ``other``'s?"""
        return self.prior == other.prior and self.ntckts == other.ntckts

    def figures(self, job_id: int) -> dict[str, float] | None:
        """nurg npprior ntckts urg rrcontr wtcontr dlcontr ppri prior of a job (None: no job)."""
        job = self.master.jobs.get(job_id)
        if job is None:
            return None
        rr = _cached_contribution(self.master, job)
        waited = 0.0 if job.tasks and not job.pending else max(0.0, self.now - job.submit_time)
        wt, ppri = waited * self.w_wait, float(job.spec.priority)
        considered = job_id in self.nurg
        return {"urg": rr + wt, "rrcontr": rr, "wtcontr": wt, "dlcontr": 0.0, "ppri": ppri,
                "nurg": self.nurg.get(job_id, 0.0), "npprior": npprior(int(ppri)) if considered else 0.0,
                "ntckts": self.ntckts.get(job_id, 0.0), "prior": self.prior.get(job_id, 0.0)}


def cluster_queue_summary(master: Master, qstates: QueueStates,
                          reserved: dict[tuple[str, str], int] | None = None) -> list[ClusterQueueRow]:
    """qstat -g c: per cluster queue, load, used, reserved (``reserved``: per queue
    instance), available, total and the slots out of use by a passing state (aoACDS) or one
    that needs an operator (cdsuE)."""
    config = master.config
    states = qstates.compute()
    used = used_slots(master.jobs.values())
    out: dict[str, ClusterQueueRow] = {}
    loads: dict[str, list[float]] = {}
    for qi in config.queue_instances(master.hosts):
        row = out.get(qi.queue)
        if row is None:
            row = out[qi.queue] = ClusterQueueRow(qi.queue)
        busy = used.get((qi.queue, qi.host), 0)
        row.used += busy
        row.resv += (reserved or {}).get((qi.queue, qi.host), 0)
        row.total += qi.slots
        letters = states.get(f"{qi.queue}@{qi.host}", "")
        if any(c in "cdsuE" for c in letters):
            row.manual_intervention += qi.slots
        elif any(c in "aoACDS" for c in letters):
            row.temp_disabled += qi.slots
        else:
            row.available += max(0, qi.slots - busy)
        entry = master.hosts.get(qi.host)
        if entry is not None and entry.up and "np_load_avg" in entry.load:
            loads.setdefault(qi.queue, []).append(float(entry.load["np_load_avg"]))
    for name, values in loads.items():
        out[name].load = sum(values) / len(values)
    return [out[name] for name in sorted(out)]
