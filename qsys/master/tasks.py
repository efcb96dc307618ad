"""Compact sets of array task ids: a range plus the ids that have left it.

A pending array of 1,000,000 tasks is one range and a few runs of what left it, never
1,000,000 rows or ids; Grid Engine prints what is left as ``1-3:1`` or ``1,4-9:1``.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from operator import itemgetter

from qsys.jobspec import TaskRange
from qsys.master.shared import EMPTY_LIST, SINGLE_TASK

_FIRST = itemgetter(0)


class TaskSet:
    """The task ids of ``range_`` that have not left it. What left is kept as sorted runs of
    positions in the range (tasks leave mostly in order: an array of 1,000,000 tasks that
    half ran is one run, not 500,000 ids), so memory, the store's record and every lookup
    stay small however large the array."""

    __slots__ = ("range_", "_runs", "_count")

    def __init__(self, range_: TaskRange, removed: Iterable[int] = ()) -> None:
        self.range_ = range_
        # disjoint, not touching, sorted [first, last] positions; the shared empty list until
        # a task leaves (100,000 pending jobs hold none)
        self._runs: list[list[int]] = EMPTY_LIST
        self._count = len(range_)
        if removed:
            for task_id in sorted(set(removed)):
                self.remove(task_id)

    def _position(self, task_id: int) -> int | None:
        r = self.range_
        if r.first <= task_id <= r.last and (task_id - r.first) % r.step == 0:
            return (task_id - r.first) // r.step
        return None

    def _run_at(self, pos: int) -> int:
        """The index of the run holding ``pos``, or -1."""
        at = bisect_right(self._runs, pos, key=_FIRST) - 1
        return at if at >= 0 and self._runs[at][1] >= pos else -1

    def __contains__(self, task_id: int) -> bool:
        pos = self._position(task_id)
        return pos is not None and self._run_at(pos) < 0

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator[int]:
        r = self.range_
        first, step = r.first, r.step
        parts: list[range] = []
        pos = 0
        for a, b in self._runs:
            parts.append(range(first + pos * step, first + a * step, step))
            pos = b + 1
        parts.append(range(first + pos * step, first + len(r) * step, step))
        return chain.from_iterable(parts)

    @property
    def removed(self) -> set[int]:
        """The ids that left (a new set: for tests and small arrays)."""
        r = self.range_
        return {r.first + p * r.step for a, b in self._runs for p in range(a, b + 1)}

    def first(self, n: int) -> list[int]:
        """The lowest ``n`` ids still in the set."""
        return list(islice(iter(self), max(n, 0)))

    def remove(self, task_id: int) -> bool:
        """Take ``task_id`` out; False when it was not in the set."""
        pos = self._position(task_id)
        if pos is None:
            return False
        runs = self._runs
        if not runs:
            self._runs = runs = []
        elif runs[-1][1] + 1 == pos:  # the usual case: the next task in order
            runs[-1][1] = pos
            self._count -= 1
            return True
        at = bisect_right(runs, pos, key=_FIRST)  # runs[at - 1] starts at or before pos
        left = runs[at - 1] if at > 0 else None
        if left is not None and left[1] >= pos:
            return False
        right = runs[at] if at < len(runs) else None
        joins_left = left is not None and left[1] + 1 == pos
        joins_right = right is not None and right[0] - 1 == pos
        if joins_left and joins_right:
            left[1] = right[1]  # type: ignore[index]
            del runs[at]
        elif joins_left:
            left[1] = pos  # type: ignore[index]
        elif joins_right:
            right[0] = pos  # type: ignore[index]
        else:
            runs.insert(at, [pos, pos])
        self._count -= 1
        return True

    def id_runs(self) -> list[tuple[int, int]]:
        """The ids still in the set as ``(first, last)`` runs, ids ``step`` apart."""
        r = self.range_
        out: list[tuple[int, int]] = []
        pos = 0
        for a, b in [*self._runs, [len(r), len(r)]]:
            if a > pos:
                out.append((r.first + pos * r.step, r.first + (a - 1) * r.step))
            pos = b + 1
        return out

    def clear(self) -> list[tuple[int, int]]:
        """Take every id out; the runs of those that were in (see ``id_runs``)."""
        runs = self.id_runs()
        self._runs = [[0, len(self.range_) - 1]] if len(self.range_) else []
        self._count = 0
        return runs

    def add_back(self, task_id: int) -> None:
        """Return a task to the set (a rerun)."""
        pos = self._position(task_id)
        at = -1 if pos is None else self._run_at(pos)
        if pos is None or at < 0:
            return
        run = self._runs[at]
        if run[0] == run[1]:
            del self._runs[at]
        elif pos == run[0]:
            run[0] += 1
        elif pos == run[1]:
            run[1] -= 1
        else:
            self._runs.insert(at + 1, [pos + 1, run[1]])
            run[1] = pos - 1
        self._count += 1

    def to_wire(self) -> dict[str, object]:
        r = self.range_
        return {"first": r.first, "last": r.last, "step": r.step,
                "left": [[r.first + a * r.step, r.first + b * r.step] for a, b in self._runs]}

    @classmethod
    def from_wire(cls, data: dict[str, object]) -> TaskSet:
        """``left``: runs of ids that left; ``removed``: the ids one by one (older records)."""
        r = TaskRange(int(data["first"]), int(data["last"]), int(data["step"]))  # type: ignore[call-overload]
        if r == SINGLE_TASK:
            r = SINGLE_TASK
        out = cls(r, data.get("removed") or [])  # type: ignore[arg-type]
        runs = [[out._position(first), out._position(last)] for first, last in data.get("left") or []]  # type: ignore[attr-defined]
        if runs:
            out._runs = [[a, b] for a, b in runs if a is not None and b is not None and a <= b]
            out._count = len(r) - sum(b - a + 1 for a, b in out._runs)
        return out

    def describe(self) -> str:
        """Grid Engine's text for the ids left: ``1-3:1``, ``1,4-9:1``, ``7`` (from the runs:
        no list of 1,000,000)."""
        return describe_runs(self.id_runs(), self.range_.step)


def describe_ids(ids: list[int], pairs: bool = True) -> str:
    """Compress sorted ids into ``first-last:step`` runs (three or more ids, or two adjacent
    ones unless ``pairs`` is off: Grid Engine prints finished tasks 1 and 2 as ``1,2``)."""
    return describe_runs([(i, i) for i in ids], 1, pairs)


def describe_runs(runs: Sequence[Sequence[int]], step: int, pairs: bool = True) -> str:
    """``describe_ids`` of the ids of sorted, disjoint, non-touching ``[first, last]`` runs of
    ids ``step`` apart, without listing them (a finished 1,000,000-task array is one run).
    The walk is greedy: from an id it takes the longest stretch of equal gaps. Inside a run
    the ids are ``step`` apart; between runs the gap is larger, so a stretch only ever crosses
    from a run's last id to the next run's first (single ids: any sorted ids)."""
    parts: list[str] = []
    r, k = 0, 0  # the walk's position: the id runs[r][0] + k * step
    while r < len(runs):
        first, last = runs[r]
        here = first + k * step
        if here < last:  # the walk continues inside the run, to its end
            length = (last - here) // step + 1
            if length >= 3 or (pairs and length == 2 and step == 1):
                parts.append(f"{here}-{last}:{step}")
                r, k = r + 1, 0
            else:  # two ids of the run, not joined: the first alone
                parts.append(str(here))
                k += 1
            continue
        if r + 1 == len(runs):  # the last id of all
            parts.append(str(here))
            break
        gap = runs[r + 1][0] - here  # across runs: a chain of single-id runs gap apart
        end = r + 1
        while runs[end][0] == runs[end][1] and end + 1 < len(runs) and runs[end + 1][0] - runs[end][0] == gap:
            end += 1
        length = end - r + 1
        if length >= 3 or (pairs and length == 2 and gap == 1):
            parts.append(f"{here}-{runs[end][0]}:{gap}")
            if runs[end][0] == runs[end][1]:
                r, k = end + 1, 0
            else:
                r, k = end, 1
        else:
            parts.append(str(here))
            r, k = r + 1, 0
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
