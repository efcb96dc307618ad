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


def split_over_queues(slots: int, caps: list[int]) -> list[int]:
    """Spread one host's ``slots`` over its queue instances in order (fill each first)."""
    out = []
    for cap in caps:
        take = min(cap, slots)
        out.append(take)
        slots -= take
    return out
