"""The scheduling pass as it was before it was made fast for scale: the oracle of
test_sched_differential.py, which checks that the fast pass decides exactly as this one does.

A copy of ``qsys.sched.scheduler`` (and ``matching.static_reason``) at main 475ee0d, kept
verbatim but for the imports: every queue instance is looked at for every category, nothing is
kept between passes. Change it only when the scheduler's *behaviour* changes on purpose (then
both change together); never to follow an optimisation.
"""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

import fnmatch
import heapq
import math

from qsys.errors import InvalidRequest
from qsys.sched import tickets
from qsys.sched.allocate import HostOffer, allocate, split_over_queues
from qsys.sched.matching import (
    GLOBAL,
    HOST,
    QUEUE,
    JobRequest,
    Ledger,
    _offered,
    compile_request,
    place_words,
    project_reason,
    queue_matches,
    unavailable_reason,
)
from qsys.sched.policies import Placed, Policies, wanted
from qsys.sched.quotas import Who
from qsys.sched.scheduler import (
    DEPENDENCIES,
    HELD,
    NOT_YET,
    TASK_LIMIT,
    _SLOTS,
    job_order,
    load_value,
)
from qsys.sched.snapshot import (
    Assignment,
    Decision,
    Dispatch,
    HostSnap,
    PendingJob,
    PeSnap,
    QueueInstanceSnap,
    Snapshot,
    TicketConfig,
    complex_index,
)
from qsys.sched.values import compare


def static_reason(req: JobRequest, qi: QueueInstanceSnap, host: HostSnap | None, snap: Snapshot,
                  strict: bool = True) -> str | None:
    """Why ``qi`` can never take a job of this category in this pass (None: it can).

    With ``strict`` off the question is "could it ever": load values then count as met, and
    consumables are measured against their full capacity instead of what is free.
    """
    needed = "INTERACTIVE" if req.interactive else "BATCH"
    if needed not in qi.qtype:
        return f'cannot run in queue instance "{qi.name}" because it is not of type {needed.lower()}'
    in_queues = not req.queues or queue_matches(req.queues, qi, snap.hostgroups)
    as_master = bool(req.pe and req.master_queues and queue_matches(req.master_queues, qi, snap.hostgroups))
    if not in_queues and not as_master:
        return f'cannot run in queue "{qi.queue}" because it is not contained in its hard queue list (-q)'
    if req.pe is not None and not any(fnmatch.fnmatchcase(pe, req.pe[0]) for pe in qi.pe_list):
        return f'cannot run in queue "{qi.queue}" because PE "{req.pe[0]}" is not in PE list'
    if req.checkpoint is not None:
        if not qi.ckpt_list:
            return f'cannot run in queue instance "{qi.name}" because it is not of type checkpointing'
        if req.checkpoint not in qi.ckpt_list:
            return (f'cannot run in queue instance "{qi.name}" because ckpt object "{req.checkpoint}" '
                    "is not in ckpt list of queue")
    why = project_reason(req.project, qi.projects, qi.xprojects, f'cluster queue "{qi.queue}"')
    if why is None and host is not None:
        why = project_reason(req.project, host.projects, host.xprojects, f'host "{qi.host}"')
    if why is not None:
        return why
    for cdef, text in req.fixed:
        offer = _offered(cdef, qi, host, snap)
        if offer is None:
            if not strict and host is not None and not host.load:
                continue  # a host that does not report yet may offer it later
            return f'(-l {req.shown}) cannot run in queue "{qi.name}" because job requests unknown resource ({cdef.name})'
        source, value = offer
        if not strict and source == "hl" and cdef.name not in ("arch", "num_proc"):
            continue
        try:
            ok = compare(cdef.type, cdef.relop, text, value)
        except InvalidRequest:
            ok = False  # a malformed offer satisfies nothing
        if not ok:
            return (f'(-l {req.shown}) cannot run {place_words(source, qi)} because it offers only '
                    f'{source}:{cdef.name}={value}')
    for amount in (*req.per_slot, *req.per_job):
        if amount.implicit:
            continue
        defined = amount.cdef.name in qi.complex_values or (
            host is not None and amount.cdef.name in host.complex_values
        ) or amount.cdef.name in snap.global_values
        if not defined:
            return f'(-l {req.shown}) cannot run in queue "{qi.name}" because job requests unknown resource ({amount.cdef.name})'
    if not strict:
        return Ledger(snap, empty=True).amounts_reason(req, qi, host, 1)
    return None


def category_key(job: PendingJob) -> tuple[object, ...]:
    """Everything that decides where a job fits; same key, same outcome in a pass."""
    resources = job.hard_resources
    return (
        tuple(sorted(resources.items())) if len(resources) > 1 else tuple(resources.items()),
        tuple(job.hard_queues),
        tuple(job.master_queues),
        job.pe,
        job.interactive,
        job.project,
        job.checkpoint,
    )


class _Category:
    __slots__ = ("req", "error", "candidates", "reasons", "heap", "failed", "never", "pes", "owner",
                 "who", "request_text", "pe_name", "policy_reasons", "base", "never_known", "slot_reasons")

    def __init__(self) -> None:
        self.owner = ""  # set when access lists make the owner part of the category
        # used by the policies only (qsys.sched.policies)
        self.who = Who("", (), None, None)
        self.request_text = "NONE"
        self.pe_name: str | None = None  # the PE a parallel placement is being tried in
        self.policy_reasons: list[str] = []
        self.base: _Category | None = None  # the category of the same requests it derives from
        self.never_known = False
        self.slot_reasons: list[str] | None = None  # of a base: the reasons last worked out
        self.req: JobRequest | None = None
        self.error: str | None = None  # can never run, known at once
        self.candidates: list[int] = []  # queue instances (sorted) that pass the static checks
        self.reasons: list[str] = []  # why the others do not (capped)
        self.heap: list[tuple[tuple[object, ...], int]] = []  # (sort key when pushed, instance)
        self.failed: list[str] | None = None  # set when a job of the category did not fit
        self.never: str | None = None
        self.pes: list[PeSnap] = []


class _Pass:
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.index = complex_index(snap.complexes)
        self.slots_def = snap.complexes.get("slots", _SLOTS)
        self.ledger = Ledger(snap)
        self.pe_used: dict[str, int] = {}
        self.categories: dict[tuple[object, ...], _Category] = {}
        self.loads = {name: load_value(snap.load_formula, host) for name, host in snap.hosts.items()}
        self.extra: dict[str, dict[str, float]] = {}  # host -> load added by this pass
        self.by_seqno = snap.queue_sort_method.lower().startswith("seq")
        self.order = sorted(range(len(snap.queue_instances)), key=self.qi_key)
        self.decision = Decision()
        # access lists make the owner part of a category
        self.by_owner = (any(qi.denied_owners for qi in snap.queue_instances)
                         or any(pe.denied_owners for pe in snap.pes.values())
                         or any(host.denied_owners for host in snap.hosts.values()))
        self.policies = Policies(snap, self.index, self.ledger, self.slots_def) if wanted(snap) else None

    def qi_key(self, i: int) -> tuple[object, ...]:
        """Sort key of a queue instance: (load, seq_no) or (seq_no, load), then its name."""
        qi = self.snap.queue_instances[i]
        load = self.loads.get(qi.host, math.inf)
        if self.by_seqno:
            return (qi.seq_no, load, qi.queue, qi.host)
        return (load, qi.seq_no, qi.queue, qi.host)

    def adjust_load(self, host: str, slots: int) -> None:
        """Raise a host's load as if the job just started had begun to run (np_*: per CPU)."""
        snap_host = self.snap.hosts.get(host)
        if not self.snap.load_adjustments or snap_host is None or not snap_host.load:
            return
        try:
            cpus = max(1.0, float(snap_host.load.get("num_proc", "1")))
        except ValueError:
            cpus = 1.0
        extra = self.extra.setdefault(host, {})
        for name, step in self.snap.load_adjustments.items():
            per_slot = step / cpus if name.startswith("np_") else step
            extra[name] = extra.get(name, 0.0) + per_slot * slots
        self.loads[host] = load_value(self.snap.load_formula, snap_host, extra)

    # ------------------------------------------------------------ categories

    def category(self, job: PendingJob) -> _Category:
        key = category_key(job)
        if self.by_owner:
            key = (*key, job.owner)
        if self.policies is None:
            cat = self.categories.get(key)
            if cat is None:
                cat = self.categories[key] = self._new_category(job)
            return cat
        # the policies keep more categories apart (owner, project, advance reservation): they
        # share what the requests alone decide, worked out once for the base category
        full = (*key, *self.policies.key_extra(job))
        cat = self.categories.get(full)
        if cat is None:
            base = self.categories.get(key)
            if base is None:
                base = self.categories[key] = self._new_category(job)
            cat = self.categories[full] = self._derive(base, job)
        return cat

    def _derive(self, base: _Category, job: PendingJob) -> _Category:
        """A category like ``base`` for the policies' finer key (a copy of its candidates)."""
        assert self.policies is not None
        cat = _Category()
        cat.owner, cat.req, cat.error, cat.pes, cat.base = base.owner, base.req, base.error, base.pes, base
        if cat.error is not None:
            return cat
        self.policies.prepare(cat, job)
        if cat.error is not None:
            return cat
        cat.reasons = list(base.reasons)
        if job.ar_id is None:  # full for the requests is full for all: one heap for them
            cat.candidates, cat.heap = base.candidates, base.heap
            return cat
        qis = self.snap.queue_instances
        for i in base.candidates:
            why = self.policies.static_reason(cat, job, i, qis[i])
            if why is None:
                cat.candidates.append(i)
                cat.heap.append((self.qi_key(i), i))
            elif len(cat.reasons) < self.snap.max_reasons:
                cat.reasons.append(why)
        heapq.heapify(cat.heap)
        return cat

    def _new_category(self, job: PendingJob) -> _Category:
        snap = self.snap
        cat = _Category()
        cat.owner = job.owner if self.by_owner else ""
        try:
            req = cat.req = compile_request(job, self.index)
        except InvalidRequest as exc:
            cat.error = exc.message
            return cat
        qis = snap.queue_instances
        for pattern in (*req.queues, *(req.master_queues if req.pe else ())):
            if not any(queue_matches([pattern], qi, snap.hostgroups) for qi in qis):
                cat.error = f'job requests unknown queue "{pattern}"'
                return cat
        if req.pe is not None:
            name, low, high = req.pe
            cat.pes = [snap.pes[n] for n in sorted(snap.pes) if fnmatch.fnmatchcase(n, name)]
            if not cat.pes:
                cat.error = f'the requested parallel environment "{name}" does not exist'
                return cat
            allowed = [pe for pe in cat.pes if cat.owner not in pe.denied_owners]
            if not allowed:
                cat.error = f'job has no access to parallel environment "{name}"'
                return cat
            cat.pes = allowed
            if low < 1 or high < low:
                cat.error = f'invalid slot range "{low}-{high}" for parallel environment "{name}"'
                return cat
        for i in self.order:
            qi = qis[i]
            host = snap.hosts.get(qi.host)
            reason = (_access_reason(cat, qi, host) or unavailable_reason(qi, host)
                      or static_reason(req, qi, host, snap))
            if reason is None:
                cat.candidates.append(i)
                cat.heap.append((self.qi_key(i), i))
            elif len(cat.reasons) < snap.max_reasons:
                cat.reasons.append(reason)
        cat.reasons = list(dict.fromkeys(cat.reasons))  # a cluster queue's reason once for all its instances
        heapq.heapify(cat.heap)  # loads may have moved since the pass sorted them
        return cat

    def fail(self, cat: _Category) -> None:
        """Record why the category waits and whether it could ever run."""
        assert cat.req is not None
        policies = self.policies
        base = cat.base
        if base is not None and base.slot_reasons is not None and cat.candidates is base.candidates:
            reasons = list(base.slot_reasons)  # what another category of these requests found
        else:
            reasons = list(cat.reasons)
            for i in cat.candidates:
                if len(reasons) >= self.snap.max_reasons:
                    break
                qi = self.snap.queue_instances[i]
                why = policies.held_reason(cat, qi, i) if policies is not None else None
                why = why or self.ledger.amounts_reason(cat.req, qi, self.snap.hosts.get(qi.host), 1)
                if why is None and policies is not None:
                    why = policies.reserved_reason(qi, i)
                if why is not None and why not in reasons:
                    reasons.append(why)
            if base is not None and cat.candidates is base.candidates:
                base.slot_reasons = list(reasons)
        reasons.extend(why for why in cat.policy_reasons if why not in reasons)
        if cat.req.pe is not None and not cat.policy_reasons:  # a quota said why already
            reasons.append(self._pe_shortfall(cat))
        cat.failed = reasons or ["no queue instance is available"]
        base = cat.base
        if base is None:
            cat.never = self._never(cat)
        else:  # whether it could ever run is a question of the requests alone
            if base.never_known is False:
                base.never, base.never_known = self._never(base), True
            cat.never = base.never

    def _never(self, cat: _Category) -> str | None:
        """Could the category run at all on an empty cluster (states ignored)?"""
        snap, req = self.snap, cat.req
        assert req is not None
        first: str | None = None
        possible: list[int] = []
        for i in self.order:
            qi = snap.queue_instances[i]
            host = snap.hosts.get(qi.host)
            why = _access_reason(cat, qi, host) or static_reason(req, qi, host, snap, strict=False)
            if why is None:
                possible.append(i)
            elif first is None:
                first = why
        if not possible:
            return f"no queue instance can ever run the job: {first or 'there are no queue instances'}"
        if req.pe is not None:
            empty = Ledger(snap, empty=True)
            if not any(self._pe_plan(cat, pe, empty, possible, pe.slots) for pe in cat.pes):
                name, low, _ = req.pe
                return f'no parallel environment matching "{name}" can ever offer {low} slots'
        return None

    # ------------------------------------------------------------ sequential jobs

    def dispatch_one(self, cat: _Category, job: PendingJob, task: int) -> Dispatch | None:
        req, ledger, qis, policies = cat.req, self.ledger, self.snap.queue_instances, self.policies
        assert req is not None
        heap = cat.heap
        kept: list[tuple[tuple[object, ...], int]] = []
        if policies is not None:
            why = policies.owner_refusal(cat, job, req, 1)
            if why is not None:
                if why not in cat.policy_reasons:
                    cat.policy_reasons.append(why)
                return None
        while heap:
            pushed, i = heap[0]
            current = self.qi_key(i)
            if current != pushed:  # its host got busier in this pass: move it back
                heapq.heapreplace(heap, (current, i))
                continue
            qi = qis[i]
            queue_cap = (ledger.slot_cap(QUEUE, qi, req.per_slot, self.slots_def) if policies is None
                         else policies.queue_cap(cat, job, i, qi, req))
            if (queue_cap >= 1
                    and ledger.slot_cap(HOST, qi.host, req.per_slot, self.slots_def) >= 1
                    and ledger.slot_cap(GLOBAL, "", req.per_slot, self.slots_def) >= 1
                    and ledger.job_fits(req.per_job, qi) is None):
                if policies is None:
                    self._consume(req, [(qi, 1)])
                    return Dispatch(job.job_id, task, [Assignment(qi.queue, qi.host, 1)], None, 1)
                placed: Placed = [(i, qi, 1)]
                why, for_all = policies.refuse(cat, job, req, placed)
                if why is None:
                    for entry in kept:
                        heapq.heappush(heap, entry)
                    return self._start(cat, job, task, req, placed, None)
                if why not in cat.policy_reasons:
                    cat.policy_reasons.append(why)
                if not for_all:  # a quota of this owner: the instance stays for the others
                    kept.append(heapq.heappop(heap))
                    continue
            heapq.heappop(heap)  # full for this category for the rest of the pass
        for entry in kept:
            heapq.heappush(heap, entry)
        return None

    def _start(self, cat: _Category, job: PendingJob, task: int, req: JobRequest, placed: Placed,
               pe: str | None) -> Dispatch:
        """Take what a placement needs and record it with the policies."""
        assert self.policies is not None
        self._consume(req, [(qi, count) for _, qi, count in placed])
        assignments = [Assignment(qi.queue, qi.host, count) for _, qi, count in placed]
        self.policies.commit(cat, job, req, placed, assignments)
        return Dispatch(job.job_id, task, assignments, pe, sum(count for _, _, count in placed))

    def _consume(self, req: JobRequest, placed: list[tuple[QueueInstanceSnap, int]]) -> None:
        ledger, slots_def = self.ledger, self.slots_def
        total = 0
        for qi, count in placed:
            total += count
            for level, owner in ((QUEUE, qi), (HOST, qi.host)):
                ledger.take(level, owner, slots_def, count)
                for amount in req.per_slot:
                    ledger.take(level, owner, amount.cdef, amount.amount * count)
        ledger.take(GLOBAL, "", slots_def, total)
        for amount in req.per_slot:
            ledger.take(GLOBAL, "", amount.cdef, amount.amount * total)
        for qi, count in placed:
            self.adjust_load(qi.host, count)
        master = placed[0][0]
        for amount in req.per_job:
            for level, owner in ((QUEUE, master), (HOST, master.host), (GLOBAL, "")):
                ledger.take(level, owner, amount.cdef, amount.amount)

    # ------------------------------------------------------------ parallel jobs

    def _pe_plan(self, cat: _Category, pe: PeSnap, ledger: Ledger, candidates: list[int],
                 pe_free: int, low: int | None = None,
                 job: PendingJob | None = None) -> list[tuple[QueueInstanceSnap, int]] | None:
        """Where a job of ``cat`` would get the most slots in ``pe`` (master queue first);
        with ``job``, the policies may lower what each queue instance offers."""
        req, snap, slots_def = cat.req, self.snap, self.slots_def
        assert req is not None and req.pe is not None
        _, req_low, high = req.pe
        low = req_low if low is None else low
        policies = self.policies if job is not None else None
        hosts: dict[str, list[QueueInstanceSnap]] = {}
        where: dict[int, int] = {}
        for i in sorted(candidates, key=self.qi_key) if self.extra else candidates:
            qi = snap.queue_instances[i]
            if pe.name in qi.pe_list:
                hosts.setdefault(qi.host, []).append(qi)
                where[id(qi)] = i
        offers: list[HostOffer] = []
        layouts: list[tuple[list[QueueInstanceSnap], list[int], int | None]] = []
        for host, members in hosts.items():
            caps, master_at = [], None
            for pos, qi in enumerate(members):
                if policies is not None and job is not None:
                    cap = int(min(policies.queue_cap(cat, job, where[id(qi)], qi, req), 1 << 30))
                else:
                    cap = int(min(ledger.slot_cap(QUEUE, qi, req.per_slot, slots_def), 1 << 30))
                slave_ok = not req.queues or queue_matches(req.queues, qi, snap.hostgroups)
                caps.append(cap if slave_ok else 0)
                master_ok = not req.master_queues or queue_matches(req.master_queues, qi, snap.hostgroups)
                if master_at is None and master_ok and cap >= 1 and ledger.job_fits(req.per_job, qi) is None:
                    master_at = pos
            extra = 1 if master_at is not None and caps[master_at] == 0 else 0
            host_cap = ledger.slot_cap(HOST, host, req.per_slot, slots_def)
            offers.append(HostOffer(host, int(min(host_cap, sum(caps) + extra)), master_at is not None))
            layouts.append((members, caps, master_at))
        top = min(high, pe_free, ledger.slot_cap(GLOBAL, "", req.per_slot, slots_def))
        plan = allocate(pe.allocation_rule, offers, low, int(min(top, 1 << 30)))
        if plan is None:
            return None
        placed: list[tuple[QueueInstanceSnap, int]] = []
        for rank, (idx, count) in enumerate(plan):
            members, caps, master_at = layouts[idx]
            caps = list(caps)
            order = list(range(len(members)))
            if rank == 0:
                assert master_at is not None
                caps[master_at] = max(caps[master_at], 1)
                order.remove(master_at)
                order.insert(0, master_at)
            shares = split_over_queues(count, [caps[p] for p in order])
            if sum(shares) < count:
                return None  # a -masterq-only queue was counted on a host that is no master
            placed.extend((members[p], s) for p, s in zip(order, shares, strict=True) if s > 0)
        return placed

    def dispatch_pe(self, cat: _Category, job: PendingJob, task: int) -> Dispatch | None:
        best: tuple[int, PeSnap, list[tuple[QueueInstanceSnap, int]]] | None = None
        policies = self.policies
        for pe in cat.pes:
            free = pe.slots - pe.used_slots - self.pe_used.get(pe.name, 0)
            if policies is not None:
                assert cat.req is not None and cat.req.pe is not None
                cat.pe_name = pe.name
                why = policies.owner_refusal(cat, job, cat.req, cat.req.pe[1])
                if why is not None:
                    if why not in cat.policy_reasons:
                        cat.policy_reasons.append(why)
                    continue
            placed = self._pe_plan(cat, pe, self.ledger, cat.candidates, free,
                                   job=job if policies is not None else None)
            if placed is not None and policies is not None:
                assert cat.req is not None
                cat.pe_name = pe.name
                why, _ = policies.refuse(cat, job, cat.req, self._placed(placed))
                if why is not None:
                    if why not in cat.policy_reasons:
                        cat.policy_reasons.append(why)
                    placed = None
            if placed is not None:
                n = sum(count for _, count in placed)
                if best is None or n > best[0]:
                    best = (n, pe, placed)
        if best is None:
            return None
        n, pe, placed = best
        assert cat.req is not None
        if policies is not None:
            cat.pe_name = pe.name
            order = self._start(cat, job, task, cat.req, self._placed(placed), pe.name)
            self.pe_used[pe.name] = self.pe_used.get(pe.name, 0) + n
            return order
        self._consume(cat.req, placed)
        self.pe_used[pe.name] = self.pe_used.get(pe.name, 0) + n
        assignments = [Assignment(qi.queue, qi.host, count) for qi, count in placed]
        return Dispatch(job.job_id, task, assignments, pe.name, n)

    def _placed(self, placed: list[tuple[QueueInstanceSnap, int]]) -> Placed:
        assert self.policies is not None
        position = self.policies.position
        return [(position[(qi.queue, qi.host)], qi, count) for qi, count in placed]

    def _pe_shortfall(self, cat: _Category) -> str:
        assert cat.req is not None and cat.req.pe is not None
        name, low, _ = cat.req.pe
        offered = 0
        for pe in cat.pes:
            free = pe.slots - pe.used_slots - self.pe_used.get(pe.name, 0)
            placed = self._pe_plan(cat, pe, self.ledger, cat.candidates, free, low=1)
            if placed is not None:
                offered = max(offered, sum(count for _, count in placed))
        return f'cannot run in PE "{name}" because it only offers {offered} slots'

    # ------------------------------------------------------------ the pass

    def run(self) -> Decision:
        decision, now = self.decision, self.snap.now
        config = self.snap.tickets
        if config is not None:
            return self._run_by_tickets(config)
        for job in sorted(self.snap.jobs, key=job_order):
            started = self.run_job(job, now)
            if job.now and not started:
                decision.immediate_failed.append(job.job_id)
        return decision

    def _run_by_tickets(self, config: TicketConfig) -> Decision:
        """Tasks in the order of their priority with tickets (sched_conf(5)); an array job's
        first tasks each take their own turn."""
        decision, now = self.decision, self.snap.now
        jobs = self.snap.jobs
        ranking = tickets.rank(jobs, tickets.compute(jobs, self.snap.running, config), config)
        decision.priorities, decision.running_tickets = ranking.pending, ranking.running
        started: dict[int, int] = {}
        for job, first, end in ranking.order:
            count = self.run_job(job, now, first, end, started.get(job.job_id, 0))
            started[job.job_id] = started.get(job.job_id, 0) + count
            if job.now and end is None and not started[job.job_id]:
                decision.immediate_failed.append(job.job_id)
        return decision

    def run_job(self, job: PendingJob, now: float, first: int = 0, end: int | None = None,
                before: int = 0) -> int:
        """Dispatch what fits of one job (of its pending tasks ``first:end``; ``before`` were
        started earlier in the pass); returns how many tasks started."""
        decision = self.decision
        if job.held:
            decision.waiting[job.job_id] = [HELD]
            return 0
        if job.waiting_on:
            decision.waiting[job.job_id] = [DEPENDENCIES]
            return 0
        if job.start_time is not None and job.start_time > now:
            decision.waiting[job.job_id] = [NOT_YET]
            return 0
        if self.policies is not None:
            why = self.policies.waiting_reason(job)
            if why is not None:
                decision.waiting[job.job_id] = [why]
                return 0
        cat = self.category(job)
        if cat.error is not None:
            decision.never[job.job_id] = cat.error
            return 0
        every = job.task_ids[first:end] if first or end is not None else job.task_ids
        tasks = every
        if job.task_concurrency > 0:
            tasks = tasks[:max(0, job.task_concurrency - job.running_tasks - before)]
        started = 0
        base = cat.base
        if cat.failed is None and base is not None and base.failed is not None and job.ar_id is None:
            cat.failed, cat.never = base.failed, base.never  # what the requests alone could not get
        if cat.failed is None:
            place = self.dispatch_pe if job.pe is not None else self.dispatch_one
            for task in tasks:
                order = place(cat, job, task)
                if order is None:
                    self.fail(cat)
                    if base is not None and not cat.policy_reasons and job.ar_id is None:
                        base.failed, base.never = cat.failed, cat.never
                    break
                decision.dispatches.append(order)
                started += 1
        if cat.failed is not None and started < len(tasks):
            decision.waiting[job.job_id] = cat.failed
            if cat.never is not None:
                decision.never[job.job_id] = cat.never
            elif self.policies is not None and job.reserve and first == 0 and started == 0:
                self._reserve(cat, job, tasks[0])
        elif len(tasks) < len(every) or (not job.task_ids and job.task_concurrency):
            decision.waiting[job.job_id] = [TASK_LIMIT]
        return started

    def _reserve(self, cat: _Category, job: PendingJob, task: int) -> None:
        assert self.policies is not None and cat.req is not None
        pe = None
        if cat.req.pe is not None:
            _, low, high = cat.req.pe
            if not cat.pes:
                return
            chosen = cat.pes[0]
            pe = (chosen.name, low, min(high, chosen.slots), chosen.allocation_rule)
        self.policies.reserve(cat, job, task, self.decision.reservations, pe)


def _access_reason(cat: _Category, qi: QueueInstanceSnap, host: HostSnap | None) -> str | None:
    if cat.owner and cat.owner in qi.denied_owners:
        return f'has no permission for cluster queue "{qi.queue}"'
    if cat.owner and host is not None and cat.owner in host.denied_owners:
        return f'has no permission for host "{host.name}"'  # Grid Engine's words for an exec host
    return None


def schedule(snapshot: Snapshot) -> Decision:
    """Decide which pending tasks start now, and why the others wait (or can never run)."""
    return _Pass(snapshot).run()
