"""Resource quota sets applied in a scheduling pass.

For each enabled set, the first rule whose filters match a job on a queue instance limits
it; the usage a rule counts is keyed by the members of its expanded filters (``users {*}``
counts per user, ``users *`` all together). Usage starts from the running jobs and grows with
each dispatch of the pass. A job held back is told which limit it would exceed, as Grid
Engine words it: ``cannot run because it exceeds limit "alice/////" in rule "maxslots/1"``.
Jobs of an advance reservation are neither limited nor counted, as in Grid Engine.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from qsys.errors import InvalidRequest
from qsys.objects.quota import FILTER_KINDS, QuotaFilter, QuotaLimit, ResourceQuotaSet
from qsys.sched.matching import Amount
from qsys.sched.snapshot import ComplexDef, HostSnap, Snapshot
from qsys.sched.values import compare, parse_value

_NOTHING: dict[str, float] = {}  # the usage of a rule nothing counted against yet (never written)
LARGE = 1e18  # a dynamic limit whose load value is missing (Grid Engine assumes overload)


@dataclass(frozen=True, slots=True)
class Who:
    """What the filters of a rule look at, besides the queue instance."""

    user: str
    groups: tuple[str, ...]
    project: str | None
    pe: str | None


# (set index, rule index, usage key): one rule that limits a job on one queue instance
Match = tuple[int, int, tuple[str, str, str, str, str]]


class QuotaState:
    """The pass's view of all enabled quota sets: which rule applies where, what is used."""

    def __init__(self, snap: Snapshot, index: Mapping[str, ComplexDef]) -> None:
        self.snap = snap
        self.index = index
        self.sets: list[ResourceQuotaSet] = [s for s in snap.quotas if s.enabled]
        self.used: dict[tuple[int, int, tuple[str, str, str, str, str]], dict[str, float]] = {}
        self._matches: dict[tuple[object, ...], list[Match]] = {}
        self._limits: dict[tuple[int, int], list[tuple[QuotaLimit, ComplexDef, float | str | None]]] = {}
        self._anywhere = self.anywhere
        # what of a job the rules never look at stays out of the matches' cache key: with
        # ``users {*}`` alone, one look per user, not per user, project and PE
        self._by_project = self.looks_at("projects")
        self._by_pe = self.looks_at("pes")
        self._reasons: dict[Match, str] = {}
        for run in snap.running:
            if run.ar_id is not None:
                continue
            who = Who(run.owner, snap.user_groups.get(run.owner, ()), run.project, run.pe)
            for position, a in enumerate(run.assignments):
                amounts = _running_amounts(run.hard_resources, index, a.slots, first=position == 0)
                for match in self.matches(who, a.queue, a.host):
                    self._add(match, amounts)

    @property
    def active(self) -> bool:
        return bool(self.sets)

    @property
    def anywhere(self) -> bool:
        """True when no rule looks at queues or hosts: a job's verdict is the same on every
        queue instance, so one look answers for all of them."""
        return all(rule.filter("queues") is None and rule.filter("hosts") is None
                   and not any(limit.dynamic for limit in rule.limits)
                   for qset in self.sets for rule in qset.rules)

    def looks_at(self, kind: str) -> bool:
        """Does any rule filter on ``kind`` (users, projects, pes, queues, hosts)?"""
        return any(rule.filter(kind) is not None for qset in self.sets for rule in qset.rules)

    # ------------------------------------------------------------ matching

    def matches(self, who: Who, queue: str, host: str) -> list[Match]:
        """For each set, its first rule that applies to ``who`` on ``queue@host``."""
        if self._anywhere:
            queue = host = ""  # no rule looks at them: one answer for every instance
        # a plain tuple: hashing and comparing the dataclass runs Python code at every look
        cache_key = (who.user, who.groups, who.project if self._by_project else None,
                     who.pe if self._by_pe else None, queue, host)
        found = self._matches.get(cache_key)
        if found is None:
            found = []
            for set_index, qset in enumerate(self.sets):
                for rule_index, rule in enumerate(qset.rules):
                    filters = dict(rule.filters)
                    if all(self.member(kind, filters.get(kind), who, queue, host) for kind in FILTER_KINDS):
                        found.append((set_index, rule_index, self._key(filters, who, queue, host)))
                        break
            self._matches[cache_key] = found
        return found

    def member(self, kind: str, flt: QuotaFilter | None, who: Who, queue: str, host: str) -> bool:
        if flt is None:
            return True
        if kind in ("projects", "pes"):
            value = who.project if kind == "projects" else who.pe
            if value is None:  # "!*" admits jobs without one; any other list does not
                return "*" in flt.exclude
            return self._listed(flt, lambda item: fnmatch.fnmatchcase(value, item))
        if kind == "users":
            return self._listed(flt, lambda item: self._user_is(item, who))
        if kind == "queues":
            return self._listed(flt, lambda item: fnmatch.fnmatchcase(queue, item))
        return self._listed(flt, lambda item: self._host_is(item, host))

    @staticmethod
    def _listed(flt: QuotaFilter, hit: Callable[[str], bool]) -> bool:
        """Is a member named (or everyone, with only exclusions) and none of the excluded?"""
        included = not flt.include or any(hit(item) for item in flt.include)
        return included and not any(hit(item) for item in flt.exclude)

    def _user_is(self, item: str, who: Who) -> bool:
        if item.startswith("@"):
            entries = self.snap.usersets.get(item[1:], frozenset())
            return who.user in entries or any("@" + g in entries for g in who.groups)
        return fnmatch.fnmatchcase(who.user, item)

    def _host_is(self, item: str, host: str) -> bool:
        if item.startswith("@"):
            return host in self.snap.hostgroups.get(item, ())
        return fnmatch.fnmatchcase(host.lower(), item.lower())

    @staticmethod
    def _key(filters: dict[str, QuotaFilter], who: Who, queue: str, host: str) -> tuple[str, str, str, str, str]:
        values = (who.user, who.project or "", who.pe or "", queue, host)
        return tuple(value if kind in filters and filters[kind].expanded else ""  # type: ignore[return-value]
                     for kind, value in zip(FILTER_KINDS, values, strict=True))

    # ------------------------------------------------------------ limits

    def _add(self, match: Match, amounts: Mapping[str, float]) -> None:
        used = self.used.setdefault(match, {})
        for name, amount in amounts.items():
            used[name] = used.get(name, 0.0) + amount

    def _limit(self, limit: QuotaLimit, cdef: ComplexDef, host: str) -> float | str:
        if not limit.dynamic:
            value = parse_value(cdef.type, limit.value) if cdef.type != "STRING" else limit.value
            return value if isinstance(value, str) else float(value)
        snap_host = self.snap.hosts.get(host)
        total = 0.0
        for term in limit.terms():
            total += term.weight * (_host_value(snap_host, self.snap, term.complex) if term.complex else 1.0)
        return total

    def exceeded(self, who: Who, queue: str, host: str, amounts: Mapping[str, float],
                 fixed: Sequence[tuple[ComplexDef, str]],
                 pending: dict[Match, dict[str, float]] | None = None) -> str | None:
        """Why ``amounts`` more (slots and consumables by complex name) on ``queue@host``
        would exceed a quota, in Grid Engine's words; None if they fit. ``pending`` collects
        what the other queue instances of the same placement add (a parallel job)."""
        for match in self.matches(who, queue, host):
            set_index, rule_index, key = match
            used = self.used.get(match, _NOTHING)
            if pending is not None:
                used = dict(used)
                extra = pending.setdefault(match, {})
                for name, value in extra.items():
                    used[name] = used.get(name, 0.0) + value
                for name, value in amounts.items():
                    extra[name] = extra.get(name, 0.0) + value
            for limit, cdef, fixed_bound in self._limits_of(set_index, rule_index):
                if fixed_bound is not None:
                    bound = fixed_bound
                else:
                    try:
                        bound = self._limit(limit, cdef, host)
                    except InvalidRequest:
                        continue
                if cdef.name in amounts and isinstance(bound, float):
                    if used.get(cdef.name, 0.0) + amounts[cdef.name] > bound + 1e-9:
                        return self.reason(match)
                elif not cdef.is_consumable:
                    requested = next((text for c, text in fixed if c.name == cdef.name), None)
                    if requested is not None and not _fits(cdef, requested, limit.value):
                        return self.reason(match)
        return None

    def _limits_of(self, set_index: int, rule_index: int) -> list[tuple[QuotaLimit, ComplexDef, float | str | None]]:
        """A rule's limits on known complexes, each with its bound when that is fixed (not a
        load value's): worked out once per pass, not at every look."""
        key = (set_index, rule_index)
        found = self._limits.get(key)
        if found is None:
            found = self._limits[key] = []
            for limit in self.sets[set_index].rules[rule_index].limits:
                cdef = self.index.get(limit.resource)
                if cdef is None:
                    continue
                if limit.dynamic:
                    found.append((limit, cdef, None))
                    continue
                try:
                    found.append((limit, cdef, self._limit(limit, cdef, "")))
                except InvalidRequest:
                    continue
        return found

    def take(self, who: Who, queue: str, host: str, amounts: Mapping[str, float]) -> None:
        for match in self.matches(who, queue, host):
            self._add(match, amounts)

    def reason(self, match: Match) -> str:
        found = self._reasons.get(match)
        if found is None:
            set_index, rule_index, key = match
            name = self.sets[set_index].rule_id(rule_index)
            found = self._reasons[match] = f'cannot run because it exceeds limit "{"/".join(key)}/" in rule "{name}"'
        return found


def _fits(cdef: ComplexDef, requested: str, limit: str) -> bool:
    try:
        return compare(cdef.type, cdef.relop if cdef.relop != "EXCL" else "==", requested, limit)
    except InvalidRequest:
        return False


def _host_value(host: HostSnap | None, snap: Snapshot, name: str) -> float:
    for table in ((host.load, host.complex_values) if host is not None else ()) + (snap.global_values,):
        text = table.get(name)
        if text is not None:
            try:
                return float(parse_value("DOUBLE", text))
            except InvalidRequest:
                try:
                    return float(parse_value("MEMORY", text))
                except InvalidRequest:
                    return LARGE
    return LARGE


def request_amounts(per_slot: Sequence[Amount], per_job: Sequence[Amount], slots: int,
                    master: bool) -> dict[str, float]:
    """What ``slots`` slots of a job on one queue instance count against quotas: the slots,
    per-slot consumables times the slots, per-job ones on the master queue only."""
    amounts = {"slots": float(slots)}
    for amount in per_slot:
        amounts[amount.cdef.name] = amounts.get(amount.cdef.name, 0.0) + amount.amount * slots
    if master:
        for amount in per_job:
            amounts[amount.cdef.name] = amounts.get(amount.cdef.name, 0.0) + amount.amount
    return amounts


def _running_amounts(resources: Mapping[str, str], index: Mapping[str, ComplexDef], slots: int,
                     first: bool) -> dict[str, float]:
    amounts = {"slots": float(slots)}
    for name, text in resources.items():
        cdef = index.get(name)
        if cdef is None or not cdef.is_consumable or cdef.name == "slots":
            continue
        if cdef.consumable == "JOB" and not first:
            continue
        try:
            value = float(parse_value(cdef.type, text))
        except (InvalidRequest, ValueError):
            continue
        amounts[cdef.name] = value * (slots if cdef.consumable == "YES" else 1)
    return amounts
