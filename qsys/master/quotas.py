"""qquota in the master: what the running jobs hold of each resource quota rule.

The usage is counted as the scheduler counts it (``qsys.sched.quotas.QuotaState`` over the
running tasks), so qquota shows exactly what holds jobs back. One row per rule and per
member of its expanded filters that uses something (``users {*}``: one row per user); a rule
that limits fixed (non-consumable) values shows them once, with its filters as written.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from qsys import protocol
from qsys.master.unixgroups import unix_groups
from qsys.objects.quota import FILTER_KINDS, QuotaFilter, QuotaRule
from qsys.records import QuotaRow
from qsys.sched.quotas import QuotaState, Who
from qsys.sched.snapshot import complex_index

if TYPE_CHECKING:
    from qsys.master.core import Master, Snapshots
    from qsys.master.identity import Identity


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _shown(flt: QuotaFilter, member: str) -> tuple[str, str]:
    """A filter as qquota shows it: the member counted, else the filter as written; and its
    XML text (without the braces)."""
    if flt.expanded and member:
        return member, member
    return flt.text(), ",".join((*flt.include, *("!" + item for item in flt.exclude)))


class QuotaRequests:
    def __init__(self, state: Master, snapshots: Snapshots) -> None:
        self.state = state
        self.snapshots = snapshots

    async def quota_status(self, who: Identity, msg: protocol.QuotaStatus) -> protocol.QuotaRows:
        snap = self.snapshots.snapshot(self.state.clock.now(), running=True)
        quotas = QuotaState(snap, complex_index(snap.complexes))
        users = msg.users or [who.user]
        rows: list[QuotaRow] = []
        for set_index, qset in enumerate(quotas.sets):
            for rule_index, rule in enumerate(qset.rules):
                name = qset.rule_id(rule_index)
                used = {key: amounts for (s, r, key), amounts in quotas.used.items()
                        if s == set_index and r == rule_index}
                for key, amounts in sorted(used.items()):
                    if not self._wanted(quotas, rule, key, users, msg):
                        continue
                    limits = [(limit.resource, limit.value, _number(amounts[limit.resource]))
                              for limit in rule.limits if amounts.get(limit.resource, 0.0) > 0]
                    if limits:
                        rows.append(QuotaRow(name, [list(item) for item in limits], self._filters(rule, key)))
                fixed = [[limit.resource, limit.value] for limit in rule.limits
                         if (cdef := quotas.index.get(limit.resource)) is not None and not cdef.is_consumable]
                if fixed and self._wanted(quotas, rule, ("", "", "", "", ""), users, msg):
                    rows.append(QuotaRow(name, fixed, self._filters(rule, ("", "", "", "", ""))))
        return protocol.QuotaRows(rows)

    @staticmethod
    def _filters(rule: QuotaRule, key: tuple[str, ...]) -> list[list[str]]:
        members = dict(zip(FILTER_KINDS, key, strict=True))
        return [[kind, *_shown(flt, members[kind])] for kind, flt in rule.filters]

    @staticmethod
    def _wanted(quotas: QuotaState, rule: QuotaRule, key: tuple[str, ...], users: list[str],
                msg: protocol.QuotaStatus) -> bool:
        """Does the row concern the users (and projects, PEs, queues, hosts) asked for?"""
        members = dict(zip(FILTER_KINDS, key, strict=True))
        flt = rule.filter("users")
        if "*" not in users and flt is not None:
            def admits(user: str) -> bool:
                if members["users"]:
                    return members["users"] == user
                who = Who(user, unix_groups(user), None, None)
                return quotas.member("users", flt, who, "", "")
            if not any(admits(user) for user in users):
                return False
        for kind, wanted in (("projects", msg.projects), ("pes", msg.pes), ("queues", msg.queues),
                             ("hosts", msg.hosts)):
            if wanted and members[kind] and not any(fnmatch.fnmatchcase(members[kind], w) for w in wanted):
                return False
        return True
