"""Parallel environment allocation rules: how many slots a PE job gets, and on which hosts.

Pure arithmetic over per-host capacities, so each rule is easy to test on its own. The
largest slot count in the requested range that the rule can place wins (Grid Engine's
behaviour for ``-pe name min-max``); the first host of the result holds the master task.
"""

from __future__ import annotations

from dataclasses import dataclass

PE_SLOTS = "$pe_slots"
FILL_UP = "$fill_up"
ROUND_ROBIN = "$round_robin"


@dataclass(slots=True)
class HostOffer:
    """What one host can take for a PE job now."""

    host: str
    cap: int  # slots free for this job on this host (all its eligible queue instances)
    master_ok: bool = True  # may hold the master task (-masterq, per-job consumables)


def fixed_per_host(rule: str) -> int | None:
    """The N of an integer allocation rule, None for the $ rules."""
    text = rule.strip()
    if text.isdigit() and int(text) > 0:
        return int(text)
    return None


def valid_rule(rule: str) -> bool:
    return rule.strip() in (PE_SLOTS, FILL_UP, ROUND_ROBIN) or fixed_per_host(rule) is not None


def _master_first(offers: list[HostOffer], need: int) -> list[int] | None:
    """Offer indexes with the first master-capable host holding ``need`` slots moved to the front."""
    order = list(range(len(offers)))
    for pos, idx in enumerate(order):
        if offers[idx].master_ok and offers[idx].cap >= need:
            return [idx, *order[:pos], *order[pos + 1:]]
    return None


def allocate(rule: str, offers: list[HostOffer], low: int, high: int) -> list[tuple[int, int]] | None:
    """Slots per host as (offer index, slots), master host first; None if ``low`` cannot fit.

    ``high`` must already be bounded by the PE's free slots and any cluster-wide limit.
    """
    if high < low or high <= 0:
        return None
    rule = rule.strip()
    per_host = fixed_per_host(rule)
    if rule == PE_SLOTS:
        best = max((o.cap for o in offers if o.master_ok), default=0)
        n = min(high, best)
        if n < low or n <= 0:
            return None
        order = _master_first(offers, n)
        return None if order is None else [(order[0], n)]
    if per_host is not None:
        order = _master_first(offers, per_host)
        if order is None:
            return None
        hosts = [idx for idx in order if offers[idx].cap >= per_host]
        count = min(len(hosts), high // per_host)
        n = count * per_host
        if n < low or n <= 0:
            return None
        return [(idx, per_host) for idx in hosts[:count]]
    order = _master_first(offers, 1)
    if order is None:
        return None
    total = sum(max(0, offers[idx].cap) for idx in order)
    n = min(high, total)
    if n < low or n <= 0:
        return None
    if rule == ROUND_ROBIN:
        return _round_robin(offers, order, n)
    return _fill_up(offers, order, n)  # $fill_up, and what an unknown rule falls back to


def _fill_up(offers: list[HostOffer], order: list[int], n: int) -> list[tuple[int, int]]:
    result = []
    for idx in order:
        if n == 0:
            break
        take = min(offers[idx].cap, n)
        if take > 0:
            result.append((idx, take))
            n -= take
    return result


def _round_robin(offers: list[HostOffer], order: list[int], n: int) -> list[tuple[int, int]]:
    given = dict.fromkeys(order, 0)
    while n > 0:
        progressed = False
        for idx in order:
            if n == 0:
                break
            if given[idx] < offers[idx].cap:
                given[idx] += 1
                n -= 1
                progressed = True
        if not progressed:
            break
    return [(idx, count) for idx, count in given.items() if count > 0]


class Enough:
    """Fed the offers one host at a time in their order, says when the hosts still to come
    can no longer change what :func:`allocate` answers (so a pass need not work out what
    every host of a large cluster offers for a job the first few hosts can take).

    ``high`` is the one :func:`allocate` will be given. $round_robin spreads over every host:
    it is never settled early."""

    __slots__ = ("rule", "high", "per_host", "master", "total", "settled")

    def __init__(self, rule: str, high: int) -> None:
        self.rule = rule.strip()
        self.high = high
        self.per_host = fixed_per_host(self.rule)
        self.master = False  # a host that may hold the master task has come
        self.total = 0  # slots (or, for an integer rule, hosts) offered so far
        self.settled = False  # add() said so: the offers given are not all there are

    def add(self, offer: HostOffer) -> bool:
        self.settled = self._settles(offer)
        return self.settled

    def _settles(self, offer: HostOffer) -> bool:
        rule = self.rule
        if rule == ROUND_ROBIN:
            return False
        if rule == PE_SLOTS:  # the first master host holding all of it is the one chosen
            return offer.master_ok and offer.cap >= self.high
        need = 1 if self.per_host is None else self.per_host
        self.master = self.master or (offer.master_ok and offer.cap >= need)
        if self.per_host is None:  # $fill_up: filled from the master host, then in order
            self.total += max(0, offer.cap)
            return self.master and self.total >= self.high
        self.total += offer.cap >= need
        return self.master and self.total >= self.high // need


def split_over_queues(slots: int, caps: list[int]) -> list[int]:
    """Spread one host's ``slots`` over its queue instances in order (fill each first)."""
    out = []
    for cap in caps:
        take = min(cap, slots)
        out.append(take)
        slots -= take
    return out
