"""PE allocation rules on plain host capacities."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qsys.sched.allocate import Enough, HostOffer, allocate, split_over_queues, valid_rule


def offers(*caps: int) -> list[HostOffer]:
    return [HostOffer(f"n{i}", cap) for i, cap in enumerate(caps)]


def test_pe_slots_all_on_one_host() -> None:
    hosts = offers(2, 4, 3)
    assert allocate("$pe_slots", hosts, 3, 3) == [(1, 3)]
    assert allocate("$pe_slots", hosts, 2, 8) == [(1, 4)]  # largest that one host can take
    assert allocate("$pe_slots", hosts, 5, 8) is None


def test_fill_up_fills_hosts_in_order() -> None:
    hosts = offers(2, 4, 3)
    assert allocate("$fill_up", hosts, 5, 5) == [(0, 2), (1, 3)]
    assert allocate("$fill_up", hosts, 1, 100) == [(0, 2), (1, 4), (2, 3)]
    assert allocate("$fill_up", hosts, 10, 12) is None


def test_round_robin_one_per_host_in_turn() -> None:
    hosts = offers(1, 4, 3)
    assert allocate("$round_robin", hosts, 5, 5) == [(0, 1), (1, 2), (2, 2)]
    assert allocate("$round_robin", hosts, 8, 8) == [(0, 1), (1, 4), (2, 3)]
    assert allocate("$round_robin", hosts, 9, 9) is None


def test_fixed_per_host() -> None:
    hosts = offers(2, 1, 4, 2)
    assert allocate("2", hosts, 4, 4) == [(0, 2), (2, 2)]
    assert allocate("2", hosts, 2, 10) == [(0, 2), (2, 2), (3, 2)]
    assert allocate("2", hosts, 3, 3) is None  # no multiple of 2 in 3..3
    assert allocate("4", hosts, 4, 4) == [(2, 4)]


def test_master_host_goes_first() -> None:
    hosts = [HostOffer("a", 4, master_ok=False), HostOffer("b", 2, master_ok=True)]
    assert allocate("$fill_up", hosts, 6, 6) == [(1, 2), (0, 4)]
    assert allocate("$pe_slots", hosts, 1, 4) == [(1, 2)]
    assert allocate("$fill_up", [HostOffer("a", 4, master_ok=False)], 1, 1) is None


def test_helpers() -> None:
    assert split_over_queues(5, [2, 4]) == [2, 3]
    assert split_over_queues(1, [0, 4]) == [0, 1]
    assert valid_rule("$fill_up") and valid_rule("8") and not valid_rule("$nope") and not valid_rule("0")


@settings(max_examples=500, deadline=None)
@given(rule=st.sampled_from(["$pe_slots", "$fill_up", "$round_robin", "2", "3", "odd"]),
       caps=st.lists(st.tuples(st.integers(-1, 6), st.booleans()), max_size=8),
       low=st.integers(0, 12), high=st.integers(0, 14))
def test_enough_leaves_out_only_hosts_that_change_nothing(rule: str, caps: list[tuple[int, bool]], low: int,
                                                          high: int) -> None:
    offers = [HostOffer(f"h{n}", cap, master) for n, (cap, master) in enumerate(caps)]
    enough = Enough(rule, high)
    seen = []
    for offer in offers:
        seen.append(offer)
        if enough.add(offer):
            break
    assert allocate(rule, seen, low, high) == allocate(rule, offers, low, high)
