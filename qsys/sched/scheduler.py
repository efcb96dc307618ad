"""One scheduling pass: a snapshot in, dispatch orders and pending reasons out.

Jobs are taken by priority, submission time and number. Jobs with the same requests form a
category; what fits a category (the queue instances that pass the static checks, in sort
order) is worked out once per pass. Each dispatch raises its host's load by the
``job_load_adjustments`` (so a pass spreads jobs as Grid Engine does); a lazy heap per category
keeps the instances in current order and drops the ones that are full for the category.
When a job of a category does not fit, the rest of the category is skipped for the pass.

At scale (a thousand hosts, a hundred thousand pending jobs in thousands of categories) a pass
must not look at every queue instance for every category: the static checks are worked out
once per check over all instances and kept across passes in a :class:`~qsys.sched.memo.Memo`
while the configuration stays the same; a category's candidates are looked up among the
instances with a free slot (the pass keeps that set as it fills slots), never-fit reasons are
kept per category, and what a parallel environment offers is worked out once per state of the
pass for all the categories that ask the same, host by host until the allocation rule is
settled (``allocate.Enough``). Results are the same as without any of it:
tests/unit/test_sched_differential.py holds the plain pass and compares the two.
"""

from __future__ import annotations

import fnmatch
import heapq
import math
import re
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator
from functools import lru_cache

from qsys.errors import InvalidRequest
from qsys.sched import tickets
from qsys.sched.allocate import Enough, HostOffer, allocate, split_over_queues
from qsys.sched.matching import (
    GLOBAL,
    HOST,
    QUEUE,
    Check,
    JobRequest,
    Ledger,
    compile_request,
    queue_matches,
    request_checks,
    unavailable_reason,
)
from qsys.sched.memo import Memo
from qsys.sched.policies import Placed, Policies, wanted
from qsys.sched.quotas import Who
from qsys.sched.snapshot import (
    Assignment,
    ComplexDef,
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

HELD = "Job is in hold state"  # as Grid Engine words it
DEPENDENCIES = "job dropped because of job dependencies"
NOT_YET = "job dropped because its start time (-a) has not been reached"
TASK_LIMIT = "job dropped because of its task concurrency limit (-tc)"
_SLOTS = ComplexDef("slots", "s", "INT", "<=", True, "YES", "1", 1000)


def normalize_priorities(prios: dict[int, int]) -> dict[int, float]:
    """Job -> priority mapped to [0, 1] (min-max); all equal gives 0.5 as Grid Engine shows."""
    if not prios:
        return {}
    low, high = min(prios.values()), max(prios.values())
    if low == high:
        return dict.fromkeys(prios, 0.5)
    span = float(high - low)
    return {job: (p - low) / span for job, p in prios.items()}


_TERM = re.compile(r"\s*([+-]?)\s*([^+-]+)")


def load_value(formula: str, host: HostSnap | None, extra: dict[str, float] | None = None) -> float:
    """A host's load by ``load_formula`` (sums and differences of weighted load values).

    ``extra`` holds what this pass's dispatches added to the host's load values.
    """
    if host is None or not host.load:
        return math.inf  # not reporting: sort last
    total = 0.0
    for negative, factors in _parse_formula(formula or "np_load_avg"):
        product = 1.0
        for factor in factors:
            if isinstance(factor, float):
                product *= factor
                continue
            text = host.load.get(factor, host.complex_values.get(factor, "0"))
            try:
                product *= float(text) + (extra.get(factor, 0.0) if extra else 0.0)
            except ValueError:
                product = 0.0
        total += -product if negative else product
    return total


@lru_cache(maxsize=64)
def _parse_formula(formula: str) -> tuple[tuple[bool, tuple[float | str, ...]], ...]:
    """``a+2*b-c`` as (negative, factors) terms; numbers become floats, names stay names."""
    terms = []
    for sign, term in _TERM.findall(formula):
        factors: list[float | str] = []
        for factor in term.split("*"):
            name = factor.strip()
            try:
                factors.append(float(name))
            except ValueError:
                factors.append(name)
        terms.append((sign == "-", tuple(factors)))
    return tuple(terms)


def job_order(job: PendingJob) -> tuple[int, float, int]:
    return (-job.priority, job.submit_time, job.job_id)


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


class _Static:
    """What the requests of a category (and its owner, where access lists apply) meet in the
    cluster's world: the compiled request or why it can never be valid, the queue instances
    it can never use (static checks, access lists), and once asked, the instances it could
    never use at all and whether a PE could ever hold it. Kept in the memo across passes
    unless one of its checks read a load value (``moving``)."""

    __slots__ = ("req", "error", "pe_names", "failing", "denied", "bad", "moving", "ever", "pe_ever",
                 "amounts")

    def __init__(self) -> None:
        self.req: JobRequest | None = None
        self.error: str | None = None
        self.pe_names: list[str] = []
        self.failing: dict[int, str] = {}  # instance -> the first static check it fails
        self.denied: dict[int, str] = {}  # instance -> the owner has no access to it
        self.bad: frozenset[int] = frozenset()  # both together
        self.moving = False
        self.ever: dict[int, str] | None = None  # instance -> why it could never run the job
        self.pe_ever: bool | None = None
        self.amounts: tuple[object, ...] = ()  # the consumables asked (a key for what PEs offer)


_NOBODY = Who("", (), None, None)


class _Category:
    __slots__ = ("req", "error", "_candidates", "_reasons", "heap", "skip", "failed", "never", "pes", "owner",
                 "who", "request_text", "pe_name", "policy_reasons", "base", "never_known", "slot_reasons",
                 "static", "lazy", "derived", "common")

    def __init__(self, lazy: _Pass, static: _Static | None = None) -> None:
        self.lazy = lazy  # the pass that works out candidates and reasons when first asked
        self.static = static if static is not None else _Static()  # a derived one shares its base's
        self.owner = ""  # set when access lists make the owner part of the category
        # used by the policies only (qsys.sched.policies)
        self.who = _NOBODY
        self.request_text = "NONE"
        self.pe_name: str | None = None  # the PE a parallel placement is being tried in
        self.policy_reasons: list[str] = []
        self.base: _Category | None = None  # the category of the same requests it derives from
        self.derived: dict[tuple[object, ...], _Category] | None = None  # of a base: by the policies' key
        self.common: _Category | None = None  # of a base: the derived one when the key tells no jobs apart
        self.never_known = False
        self.slot_reasons: list[str] | None = None  # of a base: the reasons last worked out
        self.req: JobRequest | None = None
        self.error: str | None = None  # can never run, known at once
        self._candidates: list[int] | None = None  # queue instances (sorted) that pass the static checks
        self._reasons: list[str] | None = None  # why the others do not (capped)
        # (sort key when pushed, instance); None until the first placement is tried
        self.heap: list[tuple[tuple[object, ...], int]] | None = None
        # a category with few instances out of bounds walks the pass's ranking instead of a
        # heap of its own; these are the instances full for it (with policies: of a base,
        # for all the categories derived from it outside advance reservations)
        self.skip: set[int] | None = None
        self.failed: list[str] | None = None  # set when a job of the category did not fit
        self.never: str | None = None
        self.pes: list[PeSnap] = []

    @property
    def candidates(self) -> list[int]:
        if self._candidates is None:
            self._candidates = self.lazy.candidates_of(self)
        return self._candidates

    @candidates.setter
    def candidates(self, value: list[int]) -> None:
        self._candidates = value

    @property
    def reasons(self) -> list[str]:
        if self._reasons is None:
            self._reasons = self.lazy.reasons_of(self)
        return self._reasons

    @reasons.setter
    def reasons(self, value: list[str]) -> None:
        self._reasons = value


Offers = tuple[list[HostOffer], list[tuple[list[QueueInstanceSnap], list[int], int | None]]]


class _Pass:
    def __init__(self, snap: Snapshot, memo: Memo | None = None) -> None:
        self.snap = snap
        self.memo = memo if memo is not None else Memo()
        self.memo.renew(snap)
        self.index = complex_index(snap.complexes)
        self.slots_def = snap.complexes.get("slots", _SLOTS)
        self.ledger = Ledger(snap)
        self._empty: Ledger | None = None  # the "could it ever" ledger, made when first asked
        self.pe_used: dict[str, int] = {}
        self.categories: dict[tuple[object, ...], _Category] = {}
        self.loads = {name: load_value(snap.load_formula, host) for name, host in snap.hosts.items()}
        self.extra: dict[str, dict[str, float]] = {}  # host -> load added by this pass
        self.by_seqno = snap.queue_sort_method.lower().startswith("seq")
        qis = snap.queue_instances
        self.keys = [self._key(qi) for qi in qis]  # each instance's sort key now
        self.order = sorted(range(len(qis)), key=self.qi_key)
        self.pos = [0] * len(qis)  # instance -> its place in ``order``
        for place, i in enumerate(self.order):
            self.pos[i] = place
        self.unavailable = [unavailable_reason(qi, snap.hosts.get(qi.host)) for qi in qis]
        self.unavailable_set = {i for i, why in enumerate(self.unavailable) if why is not None}
        self.available_order = [i for i in self.order if self.unavailable[i] is None]
        # what read load values: worked out again in every pass, never kept in the memo
        self.moving_checks: dict[tuple[object, ...], dict[int, str]] = {}
        self.moving_merged: dict[tuple[object, ...], dict[int, str]] = {}
        self.moving_statics: dict[tuple[object, ...], _Static] = {}
        self.offers: dict[tuple[object, ...], Offers] = {}  # what PEs offer, per state of the ledger
        self.decision = Decision()
        # access lists make the owner part of a category
        self.by_owner = (any(qi.denied_owners for qi in snap.queue_instances)
                         or any(pe.denied_owners for pe in snap.pes.values())
                         or any(host.denied_owners for host in snap.hosts.values()))
        self.policies = Policies(snap, self.index, self.ledger, self.slots_def) if wanted(snap) else None
        # the instances with a free slot (queue and host): only they can take a job now. A
        # pass only ever takes, so an instance that left the set stays out. (An advance
        # reservation's job may still use the slots its reservation holds at an instance out
        # of the set: it does not look at the set.)
        self.at = {id(qi): i for i, qi in enumerate(qis)}
        self.on_host: dict[str, list[int]] = {}
        for i, qi in enumerate(qis):
            self.on_host.setdefault(qi.host, []).append(i)
        self.one_queue_hosts = all(len(members) == 1 for members in self.on_host.values())
        self.ranked: list[tuple[tuple[object, ...], int]] = []  # the open instances by their keys now
        self.open: set[int] = {i for i in self.available_order if not self._full(qis[i])}
        self.ranked = sorted((self.keys[i], i) for i in self.open)

    def _full(self, qi: QueueInstanceSnap) -> bool:
        """No slot left at ``qi`` for anyone (queue, host or cluster)."""
        ledger, slots = self.ledger, self.slots_def
        free = ledger.free(QUEUE, qi, slots)
        if free is not None and free < 1:
            return True
        for level, owner in ((HOST, qi.host), (GLOBAL, "")):
            free = ledger.free(level, owner, slots)
            if free is not None and free < 1:
                return True
        return False

    def _key(self, qi: QueueInstanceSnap) -> tuple[object, ...]:
        """Sort key of a queue instance: (load, seq_no) or (seq_no, load), then its name."""
        load = self.loads.get(qi.host, math.inf)
        if self.by_seqno:
            return (qi.seq_no, load, qi.queue, qi.host)
        return (load, qi.seq_no, qi.queue, qi.host)

    def qi_key(self, i: int) -> tuple[object, ...]:
        return self.keys[i]

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
        qis, keys, ranked, open_ = self.snap.queue_instances, self.keys, self.ranked, self.open
        for i in self.on_host.get(host, ()):
            old, keys[i] = keys[i], self._key(qis[i])
            if i in open_:
                del ranked[bisect_left(ranked, (old, i))]
                insort(ranked, (keys[i], i))

    # ------------------------------------------------------------ categories

    def category(self, job: PendingJob) -> _Category:
        key = job.cat_key
        if key is None:
            key = job.cat_key = category_key(job)
        if self.by_owner:
            key = (*key, job.owner)
        if self.policies is None:
            cat = self.categories.get(key)
            if cat is None:
                cat = self.categories[key] = self._new_category(job, key)
            return cat
        # the policies keep more categories apart (owner, project, advance reservation): they
        # share what the requests alone decide, worked out once for the base category (a
        # small key per base: the long one is hashed once per job)
        base = self.categories.get(key)
        if base is None:
            base = self.categories[key] = self._new_category(job, key)
            base.derived = {}
        if job.ar_id is None and not self.policies.splits:  # one derived category: no key to make
            cat = base.common
            if cat is None:
                cat = base.common = self._derive(base, job)
            return cat
        extra = self.policies.key_extra(job)
        derived = base.derived
        assert derived is not None
        cat = derived.get(extra)
        if cat is None:
            cat = derived[extra] = self._derive(base, job)
        return cat

    def _derive(self, base: _Category, job: PendingJob) -> _Category:
        """A category like ``base`` for the policies' finer key (a copy of its candidates)."""
        assert self.policies is not None
        cat = _Category(self, base.static)
        cat.owner, cat.req, cat.error, cat.pes, cat.base = base.owner, base.req, base.error, base.pes, base
        if cat.error is not None:
            return cat
        self.policies.prepare(cat, job)
        if cat.error is not None:
            return cat
        cat.reasons = list(base.reasons)
        if job.ar_id is None:  # full for the requests is full for all: the base's heap for them
            cat.candidates = base.candidates
            return cat
        qis = self.snap.queue_instances
        cat.candidates, cat.heap = [], []
        for i in base.candidates:
            why = self.policies.static_reason(cat, job, i, qis[i])
            if why is None:
                cat.candidates.append(i)
                cat.heap.append((self.qi_key(i), i))
            elif len(cat.reasons) < self.snap.max_reasons:
                cat.reasons.append(why)
        heapq.heapify(cat.heap)
        return cat

    def _new_category(self, job: PendingJob, key: tuple[object, ...]) -> _Category:
        cat = _Category(self)
        cat.owner = job.owner if self.by_owner else ""
        static = cat.static = self._static(job, key, cat.owner)
        cat.req, cat.error = static.req, static.error
        cat.pes = [self.snap.pes[name] for name in static.pe_names]
        return cat

    def _static(self, job: PendingJob, key: tuple[object, ...], owner: str) -> _Static:
        """What the category's requests meet in this world (see :class:`_Static`)."""
        memo = self.memo
        if len(job.hard_resources) > 1:  # the order of -l decides which reason comes first
            key = (*key, tuple(job.hard_resources))
        found = memo.statics.get(key) or self.moving_statics.get(key)
        if found is not None:
            return found
        static = _Static()
        try:
            req = static.req = compile_request(job, self.index)
        except InvalidRequest as exc:
            static.error = exc.message
            memo.statics[key] = static
            return static
        static.error = self._request_error(req, owner, static)
        if static.error is None:
            failing, static.moving = self._merged(request_checks(req))
            static.failing = failing
            static.denied = self._denied(owner)
            static.bad = frozenset(failing).union(static.denied)
            static.amounts = (tuple((a.cdef, a.amount, a.text, a.implicit) for a in req.per_slot),
                              tuple((a.cdef, a.amount, a.text, a.implicit) for a in req.per_job))
        (self.moving_statics if static.moving else memo.statics)[key] = static
        return static

    def _request_error(self, req: JobRequest, owner: str, static: _Static) -> str | None:
        """Why no job of these requests can ever be valid here (unknown queue or PE, no access
        to the PE, a malformed slot range); fills ``static.pe_names``."""
        snap, patterns = self.snap, self.memo.patterns
        for pattern in (*req.queues, *(req.master_queues if req.pe else ())):
            known = patterns.get(pattern)
            if known is None:
                known = patterns[pattern] = any(queue_matches([pattern], qi, snap.hostgroups)
                                                for qi in snap.queue_instances)
            if not known:
                return f'job requests unknown queue "{pattern}"'
        if req.pe is not None:
            name, low, high = req.pe
            pes = [snap.pes[n] for n in sorted(snap.pes) if fnmatch.fnmatchcase(n, name)]
            if not pes:
                return f'the requested parallel environment "{name}" does not exist'
            allowed = [pe for pe in pes if owner not in pe.denied_owners]
            if not allowed:
                return f'job has no access to parallel environment "{name}"'
            static.pe_names = [pe.name for pe in allowed]
            if low < 1 or high < low:
                return f'invalid slot range "{low}-{high}" for parallel environment "{name}"'
        return None

    def _merged(self, checks: list[tuple[tuple[object, ...], Check]]) -> tuple[dict[int, str], bool]:
        """Instance -> the first of ``checks`` it fails (those it passes are not in it), and
        whether a check read a moving load value."""
        key = tuple(check_key for check_key, _ in checks)
        found = self.memo.merged.get(key)
        if found is not None:
            return found, False
        found = self.moving_merged.get(key)
        if found is not None:
            return found, True
        merged: dict[int, str] = {}
        moving = False
        for check_key, check in checks:
            failing, moved = self._check(check_key, check)
            moving = moving or moved
            for i, why in failing.items():
                merged.setdefault(i, why)
        (self.moving_merged if moving else self.memo.merged)[key] = merged
        return merged, moving

    def _check(self, key: tuple[object, ...], check: Check) -> tuple[dict[int, str], bool]:
        """The instances failing one check (and whether it read a moving load value)."""
        found = self.memo.checks.get(key)
        if found is not None:
            return found, False
        found = self.moving_checks.get(key)
        if found is not None:
            return found, True
        snap = self.snap
        hosts = snap.hosts
        failing: dict[int, str] = {}
        moving = False
        for i, qi in enumerate(snap.queue_instances):
            why, moved = check(qi, hosts.get(qi.host), snap)
            moving = moving or moved
            if why is not None:
                failing[i] = why
        (self.moving_checks if moving else self.memo.checks)[key] = failing
        return failing, moving

    def _denied(self, owner: str) -> dict[int, str]:
        if not owner:
            return {}
        key = ("access", owner)
        found = self.memo.checks.get(key)
        if found is None:
            found = self.memo.checks[key] = {}
            hosts = self.snap.hosts
            for i, qi in enumerate(self.snap.queue_instances):
                host = hosts.get(qi.host)
                if owner in qi.denied_owners:
                    found[i] = f'has no permission for cluster queue "{qi.queue}"'
                elif host is not None and owner in host.denied_owners:
                    found[i] = f'has no permission for host "{host.name}"'  # Grid Engine's words for an exec host
        return found

    def candidates_of(self, cat: _Category) -> list[int]:
        """The queue instances (in the pass's order) that pass the category's static checks."""
        bad = cat.static.bad
        return [i for i in self.available_order if i not in bad]

    def _iter_candidates(self, cat: _Category) -> Iterator[int]:
        if cat._candidates is not None:
            return iter(cat._candidates)
        bad = cat.static.bad
        return (i for i in self.available_order if i not in bad)

    def reasons_of(self, cat: _Category) -> list[str]:
        """Why the first instances (in order) that are no candidates are none (capped)."""
        static = cat.static
        bad = set(static.bad)
        bad.update(self.unavailable_set)
        first = heapq.nsmallest(self.snap.max_reasons, bad, key=self.pos.__getitem__)
        # a cluster queue's reason (its -q or PE list) is said once for all its instances
        return list(dict.fromkeys(static.denied.get(i) or self.unavailable[i] or static.failing[i] for i in first))

    def _open_candidates(self, cat: _Category, pe: PeSnap) -> list[int]:
        """The candidates in ``pe`` with a free slot now (no policies only), in the order a
        placement over all of them would see their hosts: a host comes where its first
        candidate comes, with a free slot or not."""
        bad, qis, unavailable = cat.static.bad, self.snap.queue_instances, self.unavailable
        found = [i for _, i in self.ranked if i not in bad and pe.name in qis[i].pe_list]
        first: dict[str, tuple[object, ...]] = {}
        for i in found:
            host = qis[i].host
            if host not in first:
                first[host] = min(self.qi_key(j) for j in self.on_host[host]
                                  if j not in bad and unavailable[j] is None and pe.name in qis[j].pe_list)
        if len(first) > 1:
            found.sort(key=lambda i: first[qis[i].host])  # stable: in key order within a host
        return found

    def fail(self, cat: _Category) -> None:
        """Record why the category waits and whether it could ever run."""
        assert cat.req is not None
        policies = self.policies
        base = cat.base
        if base is not None and base.slot_reasons is not None and cat.candidates is base.candidates:
            reasons = list(base.slot_reasons)  # what another category of these requests found
        else:
            reasons = list(cat.reasons)
            for i in self._iter_candidates(cat):
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

    def _ever(self, cat: _Category) -> dict[int, str]:
        """Instance -> why it could never run a job of ``cat`` (access, states ignored)."""
        static = cat.static
        if static.ever is None:
            req = cat.req
            assert req is not None
            ever = dict(static.denied)
            for i, why in self._merged(request_checks(req, strict=False))[0].items():
                ever.setdefault(i, why)
            for i, why in self._empty_amounts(req, static.amounts).items():
                ever.setdefault(i, why)
            static.ever = ever
        return static.ever

    def _empty_amounts(self, req: JobRequest, amounts: tuple[object, ...]) -> dict[int, str]:
        """Instances where one slot of ``req`` would not fit even with nothing running."""
        key = ("empty", amounts, req.shown)  # the reasons name the whole -l list
        found = self.memo.checks.get(key)
        if found is None:
            empty, hosts = self.empty_ledger, self.snap.hosts
            found = self.memo.checks[key] = {}
            for i, qi in enumerate(self.snap.queue_instances):
                why = empty.amounts_reason(req, qi, hosts.get(qi.host), 1)
                if why is not None:
                    found[i] = why
        return found

    @property
    def empty_ledger(self) -> Ledger:
        if self._empty is None:
            self._empty = Ledger(self.snap, empty=True)
        return self._empty

    def _never(self, cat: _Category) -> str | None:
        """Could the category run at all on an empty cluster (states ignored)?"""
        req = cat.req
        assert req is not None
        ever = self._ever(cat)
        if len(ever) >= len(self.snap.queue_instances):
            first = ever[self.order[0]] if self.order else None
            return f"no queue instance can ever run the job: {first or 'there are no queue instances'}"
        if req.pe is not None and not self._pe_ever(cat, ever):
            name, low, _ = req.pe
            return f'no parallel environment matching "{name}" can ever offer {low} slots'
        return None

    def _pe_ever(self, cat: _Category, ever: dict[int, str]) -> bool:
        """Could one of the category's PEs ever place it (on an empty cluster)?"""
        static, req = cat.static, cat.req
        assert req is not None and req.pe is not None
        if static.pe_ever is not None:
            return static.pe_ever
        possible = [i for i in self.order if i not in ever]
        empty = self.empty_ledger
        if req.master_queues:  # where the master task may go can depend on the order: no shortcut
            return any(self._pe_plan(cat, pe, empty, possible, pe.slots) for pe in cat.pes)
        # without -masterq a plan exists exactly when the allocation rule finds one, and that
        # depends only on what each host could offer, which many categories share
        _, low, high = req.pe
        memo = self.memo
        result = False
        for pe in cat.pes:
            offer_key = ("ever", pe.name, frozenset(ever), static.amounts, tuple(req.queues))
            offers = memo.offers.get(offer_key)
            if offers is None:
                offers = memo.offers[offer_key] = self._offers(cat, pe, empty, self._host_groups(possible, pe),
                                                               None)[0]
            top = int(min(high, pe.slots, empty.slot_cap(GLOBAL, "", req.per_slot, self.slots_def), 1 << 30))
            allocation_key = (offer_key, pe.allocation_rule, low, top)
            fits = memo.allocations.get(allocation_key)
            if fits is None:
                fits = memo.allocations[allocation_key] = allocate(pe.allocation_rule, offers, low, top) is not None
            if fits:
                result = True
                break
        static.pe_ever = result
        return result

    # ------------------------------------------------------------ sequential jobs

    def _fits_one(self, req: JobRequest, qi: QueueInstanceSnap) -> bool:
        """One slot of ``req`` at ``qi`` now (no policies)."""
        return self.ledger.slot_cap(QUEUE, qi, req.per_slot, self.slots_def) >= 1 and self._fits_host(req, qi)

    SKIP_LIMIT = 32  # instances full for a category before it takes a heap of its own

    def _walk(self, cat: _Category, skip: set[int], job: PendingJob, task: int) -> Dispatch | None | bool:
        """The first open instance (in the current order) where a job of ``cat`` fits: its
        dispatch, None when there is none, False when the category should use a heap.
        ``skip``: the instances full for the category (its base's, with policies: the jobs
        of the same requests share them as they would share the base's heap)."""
        req, qis, bad, policies = cat.req, self.snap.queue_instances, cat.static.bad, self.policies
        assert req is not None
        kept = 0
        for _, i in self.ranked:
            if i in bad or i in skip:
                continue
            qi = qis[i]
            if policies is None:
                if self._fits_one(req, qi):
                    self._consume(req, [(qi, 1)])
                    return Dispatch(job.job_id, task, [Assignment(qi.queue, qi.host, 1)], None, 1)
            elif policies.queue_cap(cat, job, i, qi, req) >= 1 and self._fits_host(req, qi):
                placed: Placed = [(i, qi, 1)]
                why, for_all = policies.refuse(cat, job, req, placed)
                if why is None:
                    return self._start(cat, job, task, req, placed, None)
                if why not in cat.policy_reasons:
                    cat.policy_reasons.append(why)
                if not for_all:  # a quota of this owner: the instance stays for the others
                    kept += 1
                    if kept > self.SKIP_LIMIT:
                        return False
                    continue
            skip.add(i)  # full for this category for the rest of the pass
            if len(skip) > self.SKIP_LIMIT:
                return False
        return None

    def _fits_host(self, req: JobRequest, qi: QueueInstanceSnap) -> bool:
        """One slot of ``req`` on ``qi``'s host and in the cluster now, and its per-job amounts."""
        ledger, slots_def = self.ledger, self.slots_def
        return (ledger.slot_cap(HOST, qi.host, req.per_slot, slots_def) >= 1
                and ledger.slot_cap(GLOBAL, "", req.per_slot, slots_def) >= 1
                and ledger.job_fits(req.per_job, qi) is None)

    def _heap(self, cat: _Category) -> list[tuple[tuple[object, ...], int]]:
        """The category's candidates with a free slot now, by their keys now, made when a
        placement is first tried (a category met after the cluster filled costs nothing).
        Only jobs of an advance reservation look beyond the open instances: their
        categories have a heap of their own from the start."""
        if cat.heap is None:
            bad, skip = cat.static.bad, cat.skip or ()
            cat.heap = [(key, i) for key, i in self.ranked if i not in bad and i not in skip]
            cat.skip = None
        return cat.heap

    def dispatch_one(self, cat: _Category, job: PendingJob, task: int) -> Dispatch | None:
        req, ledger, qis, policies = cat.req, self.ledger, self.snap.queue_instances, self.policies
        assert req is not None
        if policies is not None:
            why = policies.owner_refusal(cat, job, req, 1)
            if why is not None:
                if why not in cat.policy_reasons:
                    cat.policy_reasons.append(why)
                return None
        # jobs of the same requests outside advance reservations share their base's heap
        # (or walk of the pass's ranking); an AR's job has a heap of its own from the start
        shared = cat if cat.base is None or job.ar_id is not None else cat.base
        if shared.heap is None:
            if shared.skip is None and 2 * len(cat.static.bad) <= len(qis):
                shared.skip = set()
            if shared.skip is not None:
                found = self._walk(cat, shared.skip, job, task)
                if found is not False:
                    return found  # type: ignore[return-value]
        heap = self._heap(shared)
        kept: list[tuple[tuple[object, ...], int]] = []
        open_ = self.open if job.ar_id is None else None  # an AR's job may use what it holds
        while heap:
            pushed, i = heap[0]
            if open_ is not None and i not in open_:  # no slot left there for anyone
                heapq.heappop(heap)
                continue
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
        self.policies.release_held(job, placed)  # before the ledger takes: no instance looks full
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
        self._close(placed)

    def _close(self, placed: list[tuple[QueueInstanceSnap, int]]) -> None:
        """Take the instances that have no slot left out of the open set."""
        ledger, slots_def, qis = self.ledger, self.slots_def, self.snap.queue_instances
        free = ledger.free(GLOBAL, "", slots_def)
        if free is not None and free < 1:
            self.open.clear()
            self.ranked.clear()
            return
        for qi, _ in placed:
            free = ledger.free(HOST, qi.host, slots_def)
            for i in (self.on_host[qi.host] if free is not None and free < 1 else [self.at[id(qi)]]):
                if i in self.open and self._full(qis[i]):
                    self.open.discard(i)
                    del self.ranked[bisect_left(self.ranked, (self.keys[i], i))]

    # ------------------------------------------------------------ parallel jobs

    def _host_groups(self, candidates: list[int], pe: PeSnap) -> list[list[int]]:
        """The candidates in ``pe`` per host: hosts in the order of their first candidate."""
        qis = self.snap.queue_instances
        hosts: dict[str, list[int]] = {}
        for i in candidates:
            if pe.name in qis[i].pe_list:
                hosts.setdefault(qis[i].host, []).append(i)
        return list(hosts.values())

    def _open_groups(self, cat: _Category, pe: PeSnap) -> Iterator[list[int]]:
        """The category's candidates in ``pe`` with a free slot now, per host (see
        :meth:`_open_candidates`); made as they are asked for when hosts have one queue each."""
        if not self.one_queue_hosts:
            yield from self._host_groups(self._open_candidates(cat, pe), pe)
            return
        bad, qis, name = cat.static.bad, self.snap.queue_instances, pe.name
        for _, i in self.ranked:
            if i not in bad and name in qis[i].pe_list:
                yield [i]

    def _offers(self, cat: _Category, pe: PeSnap, ledger: Ledger, groups: Iterable[list[int]],
                job: PendingJob | None, enough: Enough | None = None) -> Offers:
        """What each host (its instances in ``groups``, in order) offers a job of ``cat`` in
        ``pe``; with ``job``, the policies may lower what each instance offers. With
        ``enough``, the hosts after the one that settles the allocation are left out."""
        req, snap, slots_def = cat.req, self.snap, self.slots_def
        assert req is not None
        policies = self.policies if job is not None else None
        qis = snap.queue_instances
        # a candidate outside the -q list is there as a master queue only (see static checks)
        slaves_checked = bool(req.queues and req.master_queues)
        offers: list[HostOffer] = []
        layouts: list[tuple[list[QueueInstanceSnap], list[int], int | None]] = []
        for group in groups:
            members = [qis[i] for i in group]
            host = members[0].host
            caps, master_at = [], None
            for pos, qi in enumerate(members):
                if policies is not None and job is not None:
                    cap = int(min(policies.queue_cap(cat, job, group[pos], qi, req), 1 << 30))
                else:
                    cap = int(min(ledger.slot_cap(QUEUE, qi, req.per_slot, slots_def), 1 << 30))
                slave_ok = not slaves_checked or queue_matches(req.queues, qi, snap.hostgroups)
                caps.append(cap if slave_ok else 0)
                master_ok = not req.master_queues or queue_matches(req.master_queues, qi, snap.hostgroups)
                if master_at is None and master_ok and cap >= 1 and ledger.job_fits(req.per_job, qi) is None:
                    master_at = pos
            extra = 1 if master_at is not None and caps[master_at] == 0 else 0
            host_cap = ledger.slot_cap(HOST, host, req.per_slot, slots_def)
            offer = HostOffer(host, int(min(host_cap, sum(caps) + extra)), master_at is not None)
            offers.append(offer)
            layouts.append((members, caps, master_at))
            if enough is not None and enough.add(offer):
                break
        return offers, layouts

    def _pe_plan(self, cat: _Category, pe: PeSnap, ledger: Ledger, candidates: list[int] | None,
                 pe_free: int, low: int | None = None,
                 job: PendingJob | None = None) -> list[tuple[QueueInstanceSnap, int]] | None:
        """Where a job of ``cat`` would get the most slots in ``pe`` (master queue first);
        with ``job``, the policies may lower what each queue instance offers. ``candidates``
        None: the category's candidates with a free slot (a pass without policies), and what
        they offer is worked out once for every category that asks the same in this state."""
        req, slots_def = cat.req, self.slots_def
        assert req is not None and req.pe is not None
        _, req_low, high = req.pe
        low = req_low if low is None else low
        top = int(min(high, pe_free, ledger.slot_cap(GLOBAL, "", req.per_slot, slots_def), 1 << 30))
        if candidates is None:
            key = (ledger.version, pe.name, cat.static.bad, cat.static.amounts, tuple(req.queues),
                   tuple(req.master_queues))
            found = self.offers.get(key)
            if found is None:  # the first hosts often settle it: all of them are kept only then
                enough = Enough(pe.allocation_rule, top)
                found = self._offers(cat, pe, ledger, self._open_groups(cat, pe), None, enough)
                if not enough.settled:
                    if len(self.offers) > 4096:
                        self.offers.clear()
                    self.offers[key] = found
            offers, layouts = found
        elif ledger is self.ledger and cat.base is not None and candidates is cat.base._candidates:
            # the requests' candidates (no advance reservation's): those with a free slot are
            # all that can offer any, and the first hosts often settle it
            offers, layouts = self._offers(cat, pe, ledger, self._open_groups(cat, pe), job,
                                           Enough(pe.allocation_rule, top))
        else:
            ordered = sorted(candidates, key=self.qi_key) if self.extra else candidates
            offers, layouts = self._offers(cat, pe, ledger, self._host_groups(ordered, pe), job)
        plan = allocate(pe.allocation_rule, offers, low, top)
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
                placed = self._pe_plan(cat, pe, self.ledger, cat.candidates, free, job=job)
            else:
                placed = self._pe_plan(cat, pe, self.ledger, None, free)
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
            candidates = None if self.policies is None else cat.candidates
            placed = self._pe_plan(cat, pe, self.ledger, candidates, free, low=1)
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
        started: dict[int, int] = {}  # of jobs that take several turns
        run_job, failed = self.run_job, decision.immediate_failed
        for job, first, end in ranking.order:
            if not first and end is None:  # the job's one turn
                if not run_job(job, now) and job.now:
                    failed.append(job.job_id)
                continue
            before = started.get(job.job_id, 0)
            count = started[job.job_id] = before + run_job(job, now, first, end, before)
            if job.now and end is None and not count:
                failed.append(job.job_id)
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
        if job.ar_id is not None and self.policies is not None:  # only an AR's job waits for it
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


def schedule(snapshot: Snapshot, memo: Memo | None = None) -> Decision:
    """Decide which pending tasks start now, and why the others wait (or can never run).

    ``memo``: what earlier passes worked out that still holds (see :mod:`qsys.sched.memo`);
    the master keeps one across its passes. The decision is the same without it."""
    return _Pass(snapshot, memo).run()
