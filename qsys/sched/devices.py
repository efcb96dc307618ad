"""Device ids of resource maps (RSMAP complexes) handed out in a pass.

The ledger counts a resource map like any consumable; this module also decides which of a
host's ids a job gets: the lowest free ones in the order the host lists them, never one
already held by a running job or granted earlier in the pass (an id listed n times may be
held n times).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from qsys.errors import InvalidRequest
from qsys.grammar.values import parse_resource_map
from qsys.sched.matching import Amount
from qsys.sched.snapshot import ComplexDef, Snapshot


class DeviceState:
    def __init__(self, snap: Snapshot, complexes: Mapping[str, ComplexDef]) -> None:
        self.snap = snap
        self.names = {c.name for c in complexes.values() if c.type == "RSMAP"}
        self._free: dict[tuple[str, str], list[str]] = {}

    @property
    def active(self) -> bool:
        return bool(self.names)

    def free(self, host: str, name: str) -> list[str]:
        """The ids of ``name`` on ``host`` nobody holds, in the host's order."""
        key = (host, name)
        found = self._free.get(key)
        if found is None:
            snap_host = self.snap.hosts.get(host)
            found = []
            if snap_host is not None and name in snap_host.complex_values:
                try:
                    found = parse_resource_map(snap_host.complex_values[name])
                except InvalidRequest:
                    found = []
                for held in snap_host.devices_granted.get(name, []):
                    if held in found:
                        found.remove(held)
            self._free[key] = found
        return found

    def wanted(self, per_slot: Sequence[Amount], per_job: Sequence[Amount], slots: int,
               master: bool) -> dict[str, int]:
        """How many ids of each resource map ``slots`` slots on one host need."""
        out: dict[str, int] = {}
        for amount in per_slot:
            if amount.cdef.name in self.names:
                out[amount.cdef.name] = out.get(amount.cdef.name, 0) + int(amount.amount) * slots
        if master:
            for amount in per_job:
                if amount.cdef.name in self.names:
                    out[amount.cdef.name] = out.get(amount.cdef.name, 0) + int(amount.amount)
        return out

    def available(self, host: str, wanted: Mapping[str, int]) -> bool:
        return all(len(self.free(host, name)) >= count for name, count in wanted.items())

    def take(self, host: str, wanted: Mapping[str, int]) -> dict[str, list[str]]:
        """Grant the ids (the caller checked :meth:`available`)."""
        out = {}
        for name, count in wanted.items():
            if count <= 0:
                continue
            free = self.free(host, name)
            out[name], free[:] = free[:count], free[count:]
        return out
