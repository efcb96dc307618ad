"""The master's freeze-and-thaw of the cycle collector (qsys.master.collector)."""

from __future__ import annotations

import gc
import weakref

from qsys.master.collector import THAW_SECONDS, Collector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_a_freeze_collects_young_cycles_first_and_a_thaw_hands_everything_back() -> None:
    gc.unfreeze()
    try:
        a, b = Node(), Node()
        a.other, b.other = b, a  # garbage only the cycle collector can find
        gone = weakref.ref(a)
        del a, b
        assert Collector.step(now=5.0, thawed_at=0.0) == 0.0
        assert gone() is None  # collected before the freeze, not frozen with the survivors
        assert gc.get_freeze_count() > 0
        assert Collector.step(now=THAW_SECONDS, thawed_at=0.0) == THAW_SECONDS
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
