"""Compact sets of array task ids: a range plus the ids that have left it.

A pending array of 75,000 tasks is one range and an (initially empty) set, never 75,000
rows; Grid Engine prints what is left as ``1-3:1`` or ``1,4-9:1``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from qsys.jobspec import TaskRange


class TaskSet:
    """The task ids of ``range_`` that are not in ``removed``."""

    __slots__ = ("range_", "removed", "_count")

    def __init__(self, range_: TaskRange, removed: Iterable[int] = ()) -> None:
        self.range_ = range_
        self.removed = set(removed)
        self._count = len(range_) - sum(1 for i in self.removed if self._in_range(i))

    def _in_range(self, task_id: int) -> bool:
        r = self.range_
        return r.first <= task_id <= r.last and (task_id - r.first) % r.step == 0

    def __contains__(self, task_id: int) -> bool:
        return self._in_range(task_id) and task_id not in self.removed

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator[int]:
        removed = self.removed
        return (i for i in self.range_.ids() if i not in removed)

    def first(self, n: int) -> list[int]:
        """The lowest ``n`` ids still in the set."""
        out: list[int] = []
        for i in self:
            if len(out) >= n:
                break
            out.append(i)
        return out

    def remove(self, task_id: int) -> bool:
        """Take ``task_id`` out; False when it was not in the set."""
        if task_id not in self:
            return False
        self.removed.add(task_id)
        self._count -= 1
        return True

    def clear(self) -> list[int]:
        ids = list(self)
        self.removed.update(ids)
        self._count = 0
        return ids

    def add_back(self, task_id: int) -> None:
        """Return a task to the set (a rerun)."""
        if self._in_range(task_id) and task_id in self.removed:
            self.removed.discard(task_id)
            self._count += 1

    def to_wire(self) -> dict[str, object]:
        r = self.range_
        return {"first": r.first, "last": r.last, "step": r.step, "removed": sorted(self.removed)}

    @classmethod
    def from_wire(cls, data: dict[str, object]) -> TaskSet:
        r = TaskRange(int(data["first"]), int(data["last"]), int(data["step"]))  # type: ignore[call-overload]
        return cls(r, data.get("removed") or [])  # type: ignore[arg-type]

    def describe(self) -> str:
        """Grid Engine's text for the ids left: ``1-3:1``, ``1,4-9:1``, ``7``."""
        return describe_ids(list(self))


def describe_ids(ids: list[int], pairs: bool = True) -> str:
    """Compress sorted ids into ``first-last:step`` runs (three or more ids, or two adjacent
    ones unless ``pairs`` is off: Grid Engine prints finished tasks 1 and 2 as ``1,2``)."""
    parts: list[str] = []
    i = 0
    while i < len(ids):
        j = i
        if i + 1 < len(ids):
            step = ids[i + 1] - ids[i]
            while j + 1 < len(ids) and ids[j + 1] - ids[j] == step:
                j += 1
        length = j - i + 1
        if length >= 3 or (pairs and length == 2 and ids[j] - ids[i] == 1):
            parts.append(f"{ids[i]}-{ids[j]}:{ids[i + 1] - ids[i]}")
            i = j + 1
        else:
            parts.append(str(ids[i]))
            i += 1
    return ",".join(parts)


_TARGET = re.compile(r"^(\d+)(?:\.(\d+)(?:-(\d+)(?::(\d+))?)?)?$")


def parse_job_target(text: str) -> tuple[int, list[int] | None] | None:
    """``12`` -> (12, None); ``12.3`` -> (12, [3]); ``12.1-5:2`` -> (12, [1, 3, 5])."""
    m = _TARGET.match(text.strip())
    if not m:
        return None
    job_id = int(m.group(1))
    if m.group(2) is None:
        return job_id, None
    first = int(m.group(2))
    last = int(m.group(3) or first)
    step = int(m.group(4) or 1)
    return job_id, list(range(first, last + 1, max(step, 1)))
