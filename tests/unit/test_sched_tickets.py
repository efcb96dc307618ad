"""Tickets and the priority they make, checked against figures Son of Grid Engine 8.1.9
printed (qstat -ext/-pri) for the same shares, and for their defining properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qsys.objects.sharetree import PROJECT, ShareNode
from qsys.sched import schedule
from qsys.sched.snapshot import Assignment, ObjectShares, PendingJob, RunningJob, TicketConfig
from qsys.sched.tickets import combined_usage, compute, decay_usage, rank
from tests.unit.test_sched_pass import cluster, job, started

BOUNDED = settings(max_examples=60, deadline=None)


def figures(config: TicketConfig, jobs: list[PendingJob], running: list[RunningJob] | None = None,
            ) -> dict[int, tuple[float, float, float]]:
    """(tickets, ntckts, prior) per job, rounded as qstat prints them."""
    pending = rank(jobs, compute(jobs, running or [], config), config).pending
    return {j: (round(p.tickets), round(p.ntickets, 5), round(p.prio, 5)) for j, p in pending.items()}


def sge_jobs() -> list[PendingJob]:
    """Three jobs of sgeuser (112, 114, 116) and three of sgeuser2 (113, 115, 117)."""
    return [PendingJob(job_id=n, owner="sgeuser" if n % 2 == 0 else "sgeuser2", submit_time=float(n))
            for n in range(112, 118)]


def test_functional_shares_of_users_as_grid_engine() -> None:
    # SGE 8.1.9, weight_tickets_functional 10000, fshare sgeuser 70 / sgeuser2 30
    config = TicketConfig(weight_tickets_functional=10000,
                          users={"sgeuser": ObjectShares(70), "sgeuser2": ObjectShares(30)})
    got = {j: t for j, (t, _, _) in figures(config, sge_jobs()).items()}
    assert got == {112: 2500, 114: 1250, 116: 583, 113: 750, 115: 375, 117: 250}
    # ... and with fshare 10 / 90
    config.users = {"sgeuser": ObjectShares(10), "sgeuser2": ObjectShares(90)}
    got = {j: t for j, (t, _, _) in figures(config, sge_jobs()).items()}
    assert got == {113: 2500, 115: 1250, 117: 833, 112: 250, 114: 125, 116: 83}


def test_job_shares_and_priority_match_qstat_ext() -> None:
    # tests/reference/sge-8.1.9/qstat_ext_functional.txt and qstat_pri_functional.txt
    config = TicketConfig(weight_tickets_functional=10000,
                          users={"sgeuser": ObjectShares(10), "sgeuser2": ObjectShares(90)})
    jobs = [PendingJob(job_id=130, owner="sgeuser", job_share=30), PendingJob(job_id=131, owner="sgeuser", job_share=10),
            PendingJob(job_id=132, owner="sgeuser2")]
    assert figures(config, jobs) == {130: (2750, 1.0, 0.75), 131: (750, 0.27273, 0.38636),
                                     132: (2500, 0.90909, 0.70455)}


def test_share_tree_without_and_with_usage() -> None:
    # tests/reference/sge-8.1.9/qstat_ext_sharetree.txt (tree sharetree_for_ext.txt)
    tree = ShareNode("Root", 1, children=[ShareNode("sgeuser", 10), ShareNode("sgeuser2", 90)])
    config = TicketConfig(weight_tickets_share=10000, share_tree=tree)
    jobs = [PendingJob(job_id=130, owner="sgeuser"), PendingJob(job_id=131, owner="sgeuser"),
            PendingJob(job_id=132, owner="sgeuser2")]
    assert figures(config, jobs) == {130: (1000, 0.11111, 0.30556), 131: (500, 0.05556, 0.27778),
                                     132: (9000, 1.0, 0.75)}
    # after sgeuser2 used 18.7 CPU seconds SGE showed 6233 / 3116 / 3766 (its exact usage
    # differs in the last digits); compensation_factor 5 caps sgeuser's short-term target
    config.usage = {("sgeuser2", None): {"cpu": 18.72}}
    got = figures(config, jobs)
    assert abs(got[130][0] - 6233) <= 2 and abs(got[131][0] - 3116) <= 2 and abs(got[132][0] - 3766) <= 2


def test_share_tree_projects_defaults_and_depth() -> None:
    tree = ShareNode("Root", 1, children=[
        ShareNode("P1", 50, PROJECT, [ShareNode("default", 10)]),
        ShareNode("grp", 50, children=[ShareNode("alice", 30), ShareNode("bob", 10)]),
    ])
    config = TicketConfig(weight_tickets_share=1000, share_tree=tree)
    jobs = [PendingJob(job_id=1, owner="carol", project="P1"), PendingJob(job_id=2, owner="dave", project="P1"),
            PendingJob(job_id=3, owner="alice"), PendingJob(job_id=4, owner="bob"),
            PendingJob(job_id=5, owner="eve")]  # in no node: no share-tree tickets
    got = {j: t for j, (t, _, _) in figures(config, jobs).items()}
    # each user under P1's default has a node of its own; the top level (P1, grp: 50/50)
    # decides the value, the levels below the order (alice before bob)
    assert got[1] == 500 and got[2] == 250
    assert got[3] == 500 and got[4] == 250 and got[5] == 0


def test_override_tickets_shared_and_not() -> None:
    config = TicketConfig(users={"alice": ObjectShares(oticket=300)}, projects={"p": ObjectShares(oticket=100)})
    jobs = [PendingJob(job_id=1, owner="alice"), PendingJob(job_id=2, owner="alice", project="p"),
            PendingJob(job_id=3, owner="bob", override_tickets=50)]
    got = {j: t for j, (t, _, _) in figures(config, jobs).items()}
    # shared: the job that would get most goes first (job 2: 300 of alice + 100 of p), then
    # alice's next job gets her 300 over her two jobs
    assert got == {1: 150, 2: 400, 3: 50}
    config.share_override_tickets = False
    got = {j: t for j, (t, _, _) in figures(config, jobs).items()}
    assert got == {1: 300, 2: 400, 3: 50}


def test_running_jobs_count_against_their_owner() -> None:
    config = TicketConfig(weight_tickets_functional=1000,
                          users={"alice": ObjectShares(50), "bob": ObjectShares(50)})
    running = [RunningJob(job_id=10 + n, owner="alice", assignments=[Assignment("all.q", "node1", 1)])
               for n in range(3)]
    jobs = [PendingJob(job_id=1, owner="alice"), PendingJob(job_id=2, owner="bob")]
    got = figures(config, jobs, running)
    assert got[2][0] > got[1][0]  # alice already runs three jobs


def test_usage_decay_and_combination() -> None:
    assert decay_usage(100.0, 168 * 3600, 168) == pytest.approx(50.0)
    assert decay_usage(100.0, 2 * 168 * 3600, 168) == pytest.approx(25.0)
    assert decay_usage(100.0, 10**9, 0) == 100.0  # halftime 0: no decay
    assert combined_usage({"cpu": 10.0, "mem": 4.0, "io": 1.0}, {"cpu": 1.0, "mem": 1.0, "io": 0.0}) == 7.0
    assert combined_usage(None, {"cpu": 1.0}) == 0.0


@BOUNDED
@given(st.floats(0, 1e9), st.floats(0, 1e8), st.floats(0, 1e8), st.floats(0.01, 10_000))
def test_decay_is_a_half_life(usage: float, a: float, b: float, halftime: float) -> None:
    once = decay_usage(usage, a + b, halftime)
    twice = decay_usage(decay_usage(usage, a, halftime), b, halftime)
    assert once == pytest.approx(twice, rel=1e-9, abs=1e-9)
    assert 0 <= once <= usage


users = st.sampled_from(["u1", "u2", "u3", "u4"])


@BOUNDED
@given(st.lists(st.tuples(users, st.integers(0, 20)), min_size=1, max_size=30),
       st.dictionaries(users, st.integers(0, 100)))
def test_functional_tickets_are_bounded_and_favour_shares(specs: list[tuple[str, int]], shares: dict[str, int]) -> None:
    config = TicketConfig(weight_tickets_functional=1000, users={u: ObjectShares(s) for u, s in shares.items()})
    jobs = [PendingJob(job_id=n + 1, owner=user, job_share=js, submit_time=float(n))
            for n, (user, js) in enumerate(specs)]
    result = compute(jobs, [], config)
    for refs in result.pending.values():
        for ref in refs:
            assert 0 <= ref.ftickets <= 1000 + 1e-6
    # a user's later job never gets more than their earlier one of the same job share
    firsts: dict[tuple[str, int], float] = {}
    for job_ in jobs:
        ref = result.pending[job_.job_id][0]
        key = (job_.owner, job_.job_share)
        if key in firsts:
            assert ref.ftickets <= firsts[key] + 1e-9
        firsts[key] = ref.ftickets


@BOUNDED
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(1, 3)), min_size=1, max_size=12),
       st.dictionaries(st.sampled_from(["a", "b", "c"]), st.floats(0, 1000)))
def test_share_tree_tickets_never_exceed_the_total(specs: list[tuple[str, int]], usage: dict[str, float]) -> None:
    tree = ShareNode("Root", 1, children=[ShareNode("a", 20), ShareNode("grp", 40, children=[
        ShareNode("b", 10), ShareNode("c", 30)])])
    config = TicketConfig(weight_tickets_share=500, share_tree=tree,
                          usage={(u, None): {"cpu": v} for u, v in usage.items()})
    jobs = [PendingJob(job_id=n + 1, owner=user, task_ids=list(range(1, tasks + 1)))
            for n, (user, tasks) in enumerate(specs)]
    result = compute(jobs, [], config)
    values = [ref.stickets for refs in result.pending.values() for ref in refs]
    assert all(0 <= v <= 500 + 1e-6 for v in values)
    assert max(values) == pytest.approx(max(values))  # finite
    assert all(math.isfinite(v) for v in values)


def test_a_pass_orders_by_tickets_and_interleaves_users() -> None:
    """Fair share in one pass: the first user's 8 jobs came first, yet with 50/50 shares
    the second user's jobs take every other free slot."""
    snap = cluster(hosts=2, slots=2)
    snap.jobs = [job(n, owner="first") for n in range(1, 9)] + [job(n, owner="second") for n in range(9, 13)]
    assert started(schedule(snap)) == [1, 2, 3, 4]  # no policy: submission order
    tree = ShareNode("Root", 1, children=[ShareNode("first", 50), ShareNode("second", 50)])
    snap.tickets = TicketConfig(weight_tickets_share=1000, share_tree=tree)
    decision = schedule(snap)
    owners = [("first" if d.job_id < 9 else "second") for d in decision.dispatches]
    assert owners == ["first", "second", "first", "second"]
    assert decision.priorities[9].tickets > decision.priorities[4].tickets


def test_array_tasks_take_turns_with_other_jobs() -> None:
    snap = cluster(hosts=1, slots=4)
    snap.jobs = [job(1, owner="a", task_ids=list(range(1, 101))), job(2, owner="b"), job(3, owner="b")]
    snap.tickets = TicketConfig(weight_tickets_functional=1000,
                                users={"a": ObjectShares(50), "b": ObjectShares(50)})
    decision = schedule(snap)
    assert [(d.job_id, d.task_id) for d in decision.dispatches] == [(1, 1), (2, 1), (1, 2), (3, 1)]


def test_no_ticket_config_keeps_the_order_of_priority_and_submission() -> None:
    snap = cluster(hosts=1, slots=2)
    snap.jobs = [job(1, priority=-5), job(2), job(3, priority=10)]
    assert started(schedule(snap)) == [3, 2]
    snap.tickets = TicketConfig(weight_priority=1.0, weight_urgency=0.0, weight_ticket=0.0)
    decision = schedule(snap)
    assert started(decision) == [3, 2]  # -p through weight_priority
    assert decision.priorities[3].npprior == pytest.approx((10 + 1024) / 2048)
