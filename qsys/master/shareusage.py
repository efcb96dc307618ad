"""The usage the share tree compares: per (user, project), decayed with ``halftime``.

Each finished task adds what it used (cpu, mem, io of its accounting record) to its owner's
entry under its project. An entry is kept with the time it was last brought up to date and
decays from then on (``qsys.sched.tickets.decay_usage``), so a task end touches one entry
and the store keeps one small record per entry: usage survives a master restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qsys.sched.tickets import decay_usage

if TYPE_CHECKING:
    from qsys.store import PutObject

KIND = "share_usage"  # the store's objects of this part
USAGE_KEYS = ("cpu", "mem", "io")
NO_PROJECT = ""


class ShareUsage:
    def __init__(self) -> None:
        # (user, project or None) -> (usage as of ``stamp``, stamp)
        self.entries: dict[tuple[str, str | None], tuple[dict[str, float], float]] = {}
        self.generation = 0  # counts charges (what is derived from the usage is kept until it moves)

    def load(self, objects: dict[tuple[str, str], dict[str, Any]]) -> None:
        for (kind, _), record in objects.items():
            if kind != KIND:
                continue
            project = record.get("project") or None
            usage = {key: float(record.get(key, 0.0)) for key in USAGE_KEYS}
            self.entries[(str(record.get("user", "")), project)] = (usage, float(record.get("stamp", 0.0)))
        self.generation += 1

    def restore(self, name: str, record: dict[str, Any] | None) -> None:
        """Hold an entry as the store has it (a refused commit is undone: qsys.master.rollback)."""
        user, _, project = name.partition("\t")
        key = (user, project or None)
        if record is None:
            self.entries.pop(key, None)
        else:
            self.entries[key] = ({k: float(record.get(k, 0.0)) for k in USAGE_KEYS}, float(record.get("stamp", 0.0)))
        self.generation += 1

    def charge(self, user: str, project: str | None, record: dict[str, Any], now: float,
               halftime_hours: float) -> PutObject:
        """Add a task's usage (its accounting record) to its entry; the store change."""
        from qsys.store import PutObject

        usage, stamp = self.entries.get((user, project), ({}, now))
        new = {key: decay_usage(usage.get(key, 0.0), now - stamp, halftime_hours) + float(record.get(key) or 0.0)
               for key in USAGE_KEYS}
        self.entries[(user, project)] = (new, now)
        self.generation += 1
        return PutObject(KIND, f"{user}\t{project or NO_PROJECT}",
                         {"user": user, "project": project or NO_PROJECT, "stamp": now, **new})

    def decayed(self, now: float, halftime_hours: float) -> dict[tuple[str, str | None], dict[str, float]]:
        """Every entry as of ``now``."""
        return {key: {name: decay_usage(value, now - stamp, halftime_hours) for name, value in usage.items()}
                for key, (usage, stamp) in self.entries.items()}
