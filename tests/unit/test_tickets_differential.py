"""The fast ticket computation (qsys.sched.tickets) gives exactly the tickets, priorities and
task order of the plain one it was made from (tests/unit/ticket_reference.py).

Hypothesis makes share trees (users, projects with and without user nodes, ``default`` nodes,
zero shares), usages, functional shares and override tickets of users, projects and
departments, job shares, array jobs, held and waiting jobs, running tasks, and every policy
hierarchy and sharing setting; both computations must agree to the last bit.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qsys.objects.sharetree import DEFAULT_NODE, PROJECT, ShareNode
from qsys.sched import tickets
from qsys.sched.snapshot import Assignment, ObjectShares, PendingJob, RunningJob, TicketConfig
from tests.unit import ticket_reference

USERS = ("u0", "u1", "u2", "u3", "u4")
PROJECTS = ("p0", "p1", "p2")
DEPARTMENTS = ("", "d0", "d1")
SHARES = st.sampled_from([0, 1, 1, 3, 10])


@st.composite
def leaves(draw: st.DrawFn) -> list[ShareNode]:
    names = draw(st.lists(st.sampled_from((*USERS, DEFAULT_NODE)), unique=True, max_size=4))
    return [ShareNode(name, draw(SHARES)) for name in names]


@st.composite
def trees(draw: st.DrawFn) -> ShareNode:
    children = draw(leaves())
    for name in draw(st.lists(st.sampled_from(PROJECTS), unique=True, max_size=3)):
        below = draw(leaves()) if draw(st.booleans()) else []
        if below and draw(st.booleans()):  # a level in between
            below = [ShareNode(f"{name}-group", draw(SHARES), children=below)]
        children.append(ShareNode(name, draw(SHARES), PROJECT, below))
    draw(st.randoms()).shuffle(children)
    return ShareNode("Root", 1, children=children)


def shares(draw: st.DrawFn, names: tuple[str, ...]) -> dict[str, ObjectShares]:
    return {name: ObjectShares(draw(st.sampled_from([0, 1, 2, 5])), draw(st.sampled_from([0, 0, 10, 25])))
            for name in names if name and draw(st.booleans())}


@st.composite
def configs(draw: st.DrawFn) -> TicketConfig:
    usage = {(user, project): {"cpu": float(draw(st.sampled_from([0, 1, 50, 1000]))),
                               "mem": float(draw(st.sampled_from([0, 7])))}
             for user in USERS for project in (None, *PROJECTS) if draw(st.integers(0, 3)) == 0}
    return TicketConfig(
        weight_tickets_functional=draw(st.sampled_from([0.0, 1000.0, 10000.0])),
        weight_tickets_share=draw(st.sampled_from([0.0, 1000.0, 10000.0])),
        weight_user=draw(st.sampled_from([0.0, 0.25, 1.0])),
        weight_project=draw(st.sampled_from([0.0, 0.25])),
        weight_department=draw(st.sampled_from([0.0, 0.25])),
        weight_job=draw(st.sampled_from([0.0, 0.25])),
        share_override_tickets=draw(st.booleans()),
        share_functional_shares=draw(st.booleans()),
        max_functional_jobs_to_schedule=draw(st.sampled_from([0, 1, 3, 200])),
        max_pending_tasks_per_job=draw(st.sampled_from([1, 2, 3, 50])),
        policy_hierarchy=draw(st.sampled_from(["OFS", "OSF", "FS", "SF", "S", "F", "O", "NONE", ""])),
        weight_ticket=draw(st.sampled_from([0.0, 0.5, 1.0])),
        weight_urgency=draw(st.sampled_from([0.0, 0.5])),
        weight_priority=draw(st.sampled_from([0.0, 1.0])),
        compensation_factor=draw(st.sampled_from([0.0, 2.0, 5.0])),
        usage_weights=draw(st.sampled_from([{"cpu": 1.0, "mem": 0.0, "io": 0.0}, {"cpu": 1.0, "mem": 3.0}])),
        share_tree=draw(trees()) if draw(st.integers(0, 4)) else None,
        users=shares(draw, USERS), projects=shares(draw, PROJECTS), departments=shares(draw, DEPARTMENTS),
        usage=usage)


@st.composite
def pending(draw: st.DrawFn, job_id: int) -> PendingJob:
    tasks = draw(st.sampled_from([1, 1, 1, 2, 4, 0]))
    return PendingJob(
        job_id=job_id, task_ids=list(range(1, tasks + 1)), submit_time=float(draw(st.integers(0, 5))),
        owner=draw(st.sampled_from(USERS)), project=draw(st.sampled_from((None, None, *PROJECTS))),
        department=draw(st.sampled_from(DEPARTMENTS)), job_share=draw(st.sampled_from([0, 0, 1, 3])),
        override_tickets=draw(st.sampled_from([0, 0, 0, 20])), priority=draw(st.sampled_from([0, 0, -100, 50])),
        urgency=float(draw(st.sampled_from([0, 100, 1000]))), held=draw(st.integers(0, 9)) == 0,
        waiting_on=[1] if draw(st.integers(0, 9)) == 0 else [])


@st.composite
def running(draw: st.DrawFn, job_id: int) -> RunningJob:
    return RunningJob(job_id=job_id, task_id=draw(st.integers(1, 3)), owner=draw(st.sampled_from(USERS)),
                      project=draw(st.sampled_from((None, *PROJECTS))), department=draw(st.sampled_from(DEPARTMENTS)),
                      assignments=[Assignment("all.q", "h", 1)], job_share=draw(st.sampled_from([0, 2])),
                      override_tickets=draw(st.sampled_from([0, 5])))


def outcome(module: object, jobs: list[PendingJob], runs: list[RunningJob], config: TicketConfig) -> object:
    """Everything a pass and qstat read of the tickets: the order of turns, every job's
    priority figures, every running task's."""
    ranking = module.rank(jobs, module.compute(jobs, runs, config), config)  # type: ignore[attr-defined]
    return ([(job.job_id, first, end) for job, first, end in ranking.order],
            {job_id: ranking.pending[job_id] for job_id in ranking.pending}, dict(ranking.running))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fast_tickets_are_the_plain_ones(data: st.DataObject) -> None:
    config = data.draw(configs())
    jobs = [data.draw(pending(n)) for n in range(1, data.draw(st.integers(0, 30)) + 1)]
    runs = [data.draw(running(1000 + n)) for n in range(data.draw(st.integers(0, 8)))]
    assert outcome(tickets, jobs, runs, config) == outcome(ticket_reference, jobs, runs, config)


def test_the_reference_is_a_separate_copy() -> None:
    # a test against itself could not fail
    assert ticket_reference.compute is not tickets.compute
