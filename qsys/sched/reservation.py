"""Resource reservation and backfill: slots planned ahead in a pass.

A running task frees its slots when its run-time limit says it will end (``h_rt``, else
``s_rt``, else ``default_duration``, plus ``duration_offset``, as Grid Engine's
DURATION_OFFSET). A ``-R y`` job that cannot start now gets its slots at the earliest time
those ends allow (:meth:`Timeline.earliest`), and the reservation holds them from then for
its own run time. Advance reservations to come hold their slots the same way. A job may
start now on a queue instance only if it leaves every reservation there what it needs, which
in practice means that it ends before the reservation starts (backfill).

Only slots of queue instances are planned; consumables are checked for now, not ahead.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from qsys.sched.allocate import HostOffer, allocate, split_over_queues
from qsys.sched.snapshot import QueueInstanceSnap, Snapshot
from qsys.sched.values import parse_time


@dataclass(slots=True)
class _Block:
    start: float
    end: float
    slots: int


@dataclass(slots=True)
class _Instance:
    """One queue instance's future: when its running tasks end, what is reserved on it."""

    capacity: int
    ends: list[float] = field(default_factory=list)  # sorted end times, one per slot held
    blocks: list[_Block] = field(default_factory=list)

    def held_at(self, t: float) -> int:
        """Slots of running (and just started) tasks still held at ``t``."""
        return len(self.ends) - bisect.bisect_right(self.ends, t)

    def reserved_at(self, t: float) -> int:
        return sum(b.slots for b in self.blocks if b.start <= t < b.end)

    def free_during(self, start: float, end: float) -> int:
        """Slots free over the whole of [start, end): usage only grows where a block starts."""
        points = [start, *(b.start for b in self.blocks if start < b.start < end)]
        return min(self.capacity - self.held_at(t) - self.reserved_at(t) for t in points)


def run_time(resources: dict[str, str], limits: dict[str, str], default: float) -> float:
    """The run time a job is assumed to take: its h_rt or s_rt request (the smaller), else
    the queue's limits, else ``default``."""
    for table in (resources, limits):
        values = []
        for name in ("h_rt", "s_rt"):
            text = table.get(name)
            if text is None or text.upper() == "INFINITY":
                continue
            try:
                values.append(parse_time(text))
            except Exception:
                continue
        if values:
            return min(values)
    return default


class Timeline:
    """The slots of the queue instances over time, for one pass."""

    def __init__(self, snap: Snapshot) -> None:
        self.now = snap.now
        self.offset = snap.duration_offset
        self.instances: list[_Instance] = []
        position = {(qi.queue, qi.host): i for i, qi in enumerate(snap.queue_instances)}
        for qi in snap.queue_instances:
            self.instances.append(_Instance(qi.slots))
        known = [0] * len(snap.queue_instances)
        for run in snap.running:
            limit = run.runtime if not math.isinf(run.runtime) else snap.default_duration
            end = max(run.start_time + limit + self.offset, self.now + self.offset)
            for a in run.assignments:
                i = position.get((a.queue, a.host))
                if i is not None:
                    self.instances[i].ends.extend([end] * a.slots)
                    known[i] += a.slots
        for i, qi in enumerate(snap.queue_instances):
            unknown = qi.used_slots - known[i]  # held by tasks the snapshot does not describe
            self.instances[i].ends.extend([math.inf] * max(0, unknown))
            self.instances[i].ends.sort()

    @property
    def planned(self) -> bool:
        return any(inst.blocks for inst in self.instances)

    def end_of(self, duration: float) -> float:
        return self.now + duration + self.offset

    # ------------------------------------------------------------ now

    def room_now(self, i: int, end: float) -> int:
        """Slots a job running until ``end`` may take on instance ``i`` now without taking
        any from a reservation (a large number where nothing is reserved)."""
        inst = self.instances[i]
        if not any(b.start < end and b.end > self.now for b in inst.blocks):
            return 1 << 30
        later = [b.start for b in inst.blocks if self.now < b.start < end]
        return min(inst.capacity - inst.held_at(t) - inst.reserved_at(t) for t in later) if later else 1 << 30

    def started(self, i: int, slots: int, end: float) -> None:
        bisect.insort(self.instances[i].ends, end) if slots == 1 else self._add_ends(i, slots, end)

    def _add_ends(self, i: int, slots: int, end: float) -> None:
        self.instances[i].ends.extend([end] * slots)
        self.instances[i].ends.sort()

    def block(self, i: int, start: float, end: float, slots: int) -> None:
        self.instances[i].blocks.append(_Block(start, end, slots))

    # ------------------------------------------------------------ ahead

    def earliest(self, candidates: Sequence[int], qis: Sequence[QueueInstanceSnap], duration: float,
                 rule: str | None, low: int, high: int) -> tuple[float, list[tuple[int, int]]] | None:
        """The earliest start (from now) of a job needing ``low``..``high`` slots for
        ``duration`` on ``candidates`` (instance indexes in preference order), and where;
        ``rule`` is the PE allocation rule (None: one slot on one instance).

        Time steps through the ends of running tasks and of reservations. Instances without
        reservations only gain slots as time passes, so their free slots and per-host sums
        are kept up to date step by step and a cheap test tells when a placement can exist;
        the few instances with reservations are looked at in full at each step."""
        if not candidates:
            return None
        span = duration + self.offset
        now = self.now
        blocked = [i for i in candidates if self.instances[i].blocks]
        plain = [i for i in candidates if not self.instances[i].blocks]
        free = {i: self.instances[i].capacity - self.instances[i].held_at(now) for i in plain}
        per_host: dict[str, int] = {}
        for i in plain:
            per_host[qis[i].host] = per_host.get(qis[i].host, 0) + max(0, free[i])
        events = sorted((t, i) for i in plain for t in self.instances[i].ends if now < t < math.inf)
        times = sorted({now, *(t for t, _ in events),
                        *(b.end for i in blocked for b in self.instances[i].blocks if b.end > now)})
        kind = "one" if rule is None else ("host" if rule.strip() == "$pe_slots" else
                                           "fixed" if rule.strip().isdigit() else "any")
        per = int(rule.strip()) if kind == "fixed" and rule is not None else 1
        need = 1 if kind == "one" else low
        total = sum(per_host.values())
        best = max(per_host.values(), default=0)
        enough = sum(1 for count in per_host.values() if count >= per)
        blocked_hosts = {qis[i].host for i in blocked}
        step = 0
        for t in times:
            while step < len(events) and events[step][0] <= t:
                i = events[step][1]
                if free[i] >= 0:
                    host = qis[i].host
                    per_host[host] += 1
                    total += 1
                    best = max(best, per_host[host])
                    enough += per_host[host] == per
                free[i] += 1
                step += 1
            extra = {i: max(0, self.instances[i].free_during(t, t + span)) for i in blocked}
            if kind in ("host", "fixed") and blocked:
                sums = {h: per_host.get(h, 0) for h in blocked_hosts}
                for i, count in extra.items():
                    sums[qis[i].host] += count
                top = max(best, *sums.values())
                hosts_enough = enough - sum(1 for h in blocked_hosts if per_host.get(h, 0) >= per) + \
                    sum(1 for v in sums.values() if v >= per)
            else:
                top, hosts_enough = best, enough
            if total + sum(extra.values()) < need or (kind == "host" and top < low) or \
                    (kind == "fixed" and hosts_enough * per < low):
                continue
            placed = place(candidates, qis, {**{i: max(0, f) for i, f in free.items()}, **extra}, rule, low, high)
            if placed is not None:
                return t, placed
        return None


def place(candidates: Sequence[int], qis: Sequence[QueueInstanceSnap], free: dict[int, int],
           rule: str | None, low: int, high: int) -> list[tuple[int, int]] | None:
    """(instance, slots) for a job given the free slots, master instance first."""
    if rule is None:
        best = next((i for i in candidates if free[i] >= 1), None)
        return [(best, 1)] if best is not None else None
    hosts: dict[str, list[int]] = {}
    for i in candidates:
        hosts.setdefault(qis[i].host, []).append(i)
    names = list(hosts)
    offers = [HostOffer(h, sum(max(0, free[i]) for i in hosts[h])) for h in names]
    if sum(o.cap for o in offers) < low:
        return None
    plan = allocate(rule, offers, low, high)
    if plan is None:
        return None
    placed: list[tuple[int, int]] = []
    for index, count in plan:
        members = hosts[names[index]]
        shares = split_over_queues(count, [max(0, free[i]) for i in members])
        placed.extend((i, s) for i, s in zip(members, shares, strict=True) if s > 0)
    return placed
