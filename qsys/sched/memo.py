"""What scheduling passes may keep for the next one while the cluster's configuration stays.

Most of what a pass works out about a category does not change from one pass to the next:
which queue instances its requests can never use (queue type, -q list, PE list, fixed values,
undefined consumables), whether it could ever run, what a parallel environment could ever
offer it. All of that depends on the cluster's *world* (queue instances and their
attributes, hosts' fixed values, access and project lists and the names they report load for, complexes, host groups,
PEs), not on what runs or on the load. The master keeps one :class:`Memo` for all its passes
and hands it to :func:`qsys.sched.schedule`; each pass compares the world it is given with
the memo's and starts afresh when it changed. A pass without a memo gets a fresh one: the
results are the same either way, only the time differs.

What depends on load values (a ``-l mem_free=2G`` that a host's load report answers) is never
kept: checks that read one are worked out again in every pass.
"""

from __future__ import annotations

from typing import Any

from qsys.sched.snapshot import Snapshot

MAX_ENTRIES = 200_000  # categories kept at most (a memo that grows past it starts afresh)
MAX_FAILURES = 500_000  # (instance, reason) pairs kept at most: about 100 MB of reasons


def world_of(snap: Snapshot) -> tuple[Any, ...]:
    """Everything the kept results depend on, comparable with ``==`` (one walk over the
    instances and hosts: a small part of a pass)."""
    return (
        tuple(snap.complexes.items()),
        tuple(snap.global_values.items()),
        tuple((name, tuple(members)) for name, members in snap.hostgroups.items()),
        tuple((qi.queue, qi.host, qi.slots, frozenset(qi.qtype), tuple(qi.pe_list),
               tuple(qi.complex_values.items()), qi.denied_owners, tuple(qi.ckpt_list), tuple(qi.projects),
               tuple(qi.xprojects)) for qi in snap.queue_instances),
        tuple((name, tuple(host.complex_values.items()), frozenset(host.load), host.load.get("arch"),
               host.load.get("num_proc"), host.denied_owners, tuple(host.projects), tuple(host.xprojects))
              for name, host in snap.hosts.items()),
        tuple((pe.name, pe.slots, pe.allocation_rule, pe.denied_owners) for pe in snap.pes.values()),
    )


class Memo:
    """Results kept across passes for one world (see the module docstring)."""

    __slots__ = ("world", "checks", "merged", "statics", "offers", "allocations", "patterns", "renewals")

    def __init__(self) -> None:
        self.world: tuple[Any, ...] | None = None
        self.checks: dict[tuple[object, ...], dict[int, str]] = {}  # check key -> failing instances
        self.merged: dict[tuple[object, ...], dict[int, str]] = {}  # check keys -> first failure each
        self.statics: dict[tuple[object, ...], Any] = {}  # category key -> scheduler._Static
        self.offers: dict[tuple[object, ...], Any] = {}  # what a PE could ever offer
        self.allocations: dict[tuple[object, ...], bool] = {}  # could such an offer ever place it
        self.patterns: dict[str, bool] = {}  # -q pattern -> names some queue instance
        self.renewals = 0  # times the world changed (for tests and figures)

    def renew(self, snap: Snapshot) -> None:
        """Keep what holds in ``snap``'s world; forget everything when it changed."""
        world = world_of(snap)
        if world == self.world and len(self.statics) < MAX_ENTRIES and self.failures() < MAX_FAILURES:
            return
        self.world = world
        self.renewals += 1
        for kept in (self.checks, self.merged, self.statics, self.offers, self.allocations, self.patterns):
            kept.clear()

    def failures(self) -> int:
        """The (instance, reason) pairs kept: what most of a memo's memory is."""
        return sum(map(len, self.checks.values())) + sum(map(len, self.merged.values()))
