"""The master's freeze-and-thaw of the cycle collector (qsys.master.collector)."""

from __future__ import annotations

import gc
import weakref

from qsys.master.collector import THAW_SECONDS, Collector, paused


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


def test_a_pass_runs_without_cycle_collection_and_the_collector_comes_back_after_it() -> None:
    assert gc.isenabled()
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    try:
        with paused():
            assert not gc.isenabled()
            del a, b
            raise RuntimeError("a pass that fails")
    except RuntimeError:
        pass
    assert gc.isenabled() and gone() is not None  # nothing collected the cycle in the pass
    gc.collect()
    assert gone() is None
    gc.disable()
    try:
        with paused():
            pass
        assert not gc.isenabled()  # a collector someone else turned off stays off
    finally:
        gc.enable()
