"""The ticket computation's fast orderings (two stable sorts on plain attributes, a stable
sort of the priorities alone) give exactly the orders their tuple keys define."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qsys.sched.snapshot import ObjectShares, PendingJob, TicketConfig
from qsys.sched.tickets import Ref, _categories, _sort_pending, compute, rank

BOUNDED = settings(max_examples=80, deadline=None)
LIMIT = 4  # refs per job at most: Ref.order is job * LIMIT + index


def refs_of(specs: list[tuple[int, int, float]]) -> list[Ref]:
    out, seen = [], set()
    for job_id, index, value in specs:
        if (job_id, index) not in seen:
            seen.add((job_id, index))
            ref = Ref(job_id, index, True, "u", None, "d", 0, 0, order=job_id * LIMIT + index)
            ref.sort = ref.tickets = value
            out.append(ref)
    return out


SPECS = st.lists(st.tuples(st.integers(1, 20), st.integers(0, LIMIT - 1), st.sampled_from([0.0, 1.0, 2.5, -0.0])),
                 max_size=40)


@BOUNDED
@given(SPECS)
def test_pending_sort_is_by_sort_then_job_and_task(specs: list[tuple[int, int, float]]) -> None:
    refs = refs_of(specs)
    fast = list(refs)
    _sort_pending(fast)
    assert fast == sorted(refs, key=lambda r: (-r.sort, r.job_id, r.index))


@BOUNDED
@given(SPECS, st.booleans())
def test_dependent_categories_are_by_tickets_then_job_and_task(specs: list[tuple[int, int, float]],
                                                               dependent: bool) -> None:
    refs = refs_of(specs)
    classes = {("a", None, "d", 0, 0): refs[::2], ("b", None, "d", 0, 0): refs[1::2]}
    group = _categories(classes, lambda part: ("all",), dependent).get(("all",), [])
    if dependent:
        assert group[::-1] == sorted(refs, key=lambda r: (-r.tickets, r.job_id, r.index))
    else:
        assert sorted(group[::-1], key=lambda r: r.order) == sorted(refs, key=lambda r: (r.job_id, r.index))


@BOUNDED
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from([0.0, 5.0, 9.0]), st.integers(1, 3),
                          st.sampled_from(["alice", "bob"])), max_size=25))
def test_rank_orders_by_priority_then_submission_job_and_task(specs: list[tuple[int, float, int, str]]) -> None:
    jobs = [PendingJob(job_id=100 - n, submit_time=float(submit), urgency=urgency, task_ids=list(range(1, tasks + 1)),
                       owner=owner) for n, (submit, urgency, tasks, owner) in enumerate(specs)]
    config = TicketConfig(weight_tickets_functional=1000, users={"alice": ObjectShares(fshare=3)})
    result = compute(jobs, [], config)
    ranking = rank(jobs, result, config)
    prio = {}
    for job in jobs:
        for ref in result.pending.get(job.job_id, []):
            p = ranking.pending[job.job_id]
            base = p.prio - config.weight_ticket * p.ntickets
            top = max(r.tickets for refs in result.pending.values() for r in refs)
            prio[(job.job_id, ref.index)] = base + config.weight_ticket * (ref.tickets / top if top > 0 else 0.5)
    turns = [(job.job_id, first) for job, first, _ in ranking.order]
    by_id = {job.job_id: job for job in jobs}
    expected = sorted(prio, key=lambda t: (-round(prio[t], 9), by_id[t[0]].submit_time, t[0], t[1]))
    assert turns == expected
