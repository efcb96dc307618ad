"""Resource quota sets in a scheduling pass: which rule applies, what it counts, and the
pending reason in Grid Engine's words (tests/reference/sge-8.1.9/qstat_j_rqs.txt)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qsys.objects import parse_quota_sets
from qsys.sched import DEFAULT_COMPLEXES, PeSnap, parse_complex_table, schedule
from qsys.sched.snapshot import Assignment, RunningJob, Snapshot
from tests import REFERENCE
from tests.unit.test_sched_pass import cluster, job, started


def quota(*rules: str, name: str = "maxslots", enabled: bool = True) -> list:
    limits = "".join(f" limit {rule}\n" for rule in rules)
    text = f"{{\n name {name}\n enabled {'TRUE' if enabled else 'FALSE'}\n{limits}}}\n"
    return parse_quota_sets(text)


def test_per_user_limit_and_its_message() -> None:
    snap = cluster(hosts=1, slots=8)
    snap.hosts = {"vm": snap.hosts.pop("node1")}  # the host of the reference run
    snap.hosts["vm"].name = "vm"
    snap.queue_instances[0].host = "vm"
    snap.quotas = quota("users {*} queues {all.q} hosts {*} to slots=2")
    snap.jobs = [job(n, owner="sgeuser2") for n in range(1, 4)] + [job(4, owner="other")]
    decision = schedule(snap)
    assert started(decision) == [1, 2, 4]
    expected = [line for line in (REFERENCE / "qstat_j_rqs.txt").read_text().splitlines()
                if "exceeds limit" in line][0].strip()
    assert expected in decision.waiting[3]
    assert not decision.never


def test_not_expanded_filters_count_together() -> None:
    snap = cluster(hosts=2, slots=4)
    snap.quotas = quota("users * to slots=3")
    snap.jobs = [job(n, owner=f"u{n}") for n in range(1, 6)]
    decision = schedule(snap)
    assert len(decision.dispatches) == 3
    assert 'cannot run because it exceeds limit "/////" in rule "maxslots/1"' in decision.waiting[4]


def test_first_matching_rule_of_a_set_decides_and_sets_combine() -> None:
    snap = cluster(hosts=2, slots=4)
    sets = quota("name vip users boss to slots=8", "users {*} to slots=1")
    sets += quota("hosts {node1} to slots=1", name="perhost")
    snap.quotas = sets
    snap.jobs = [job(1, owner="boss"), job(2, owner="boss"), job(3, owner="boss"), job(4, owner="alice"),
                 job(5, owner="alice")]
    decision = schedule(snap)
    placed = {d.job_id: d.assignments[0].host for d in decision.dispatches}
    # boss is only limited by the vip rule and node1's one slot; alice by one slot each
    assert sorted(placed) == [1, 2, 3, 4]
    assert sum(1 for host in placed.values() if host == "node1") == 1
    assert any('in rule "maxslots/2"' in r for r in decision.waiting[5])


def test_negation_acls_hostgroups_projects_and_pes() -> None:
    snap = cluster(hosts=3, slots=4)
    snap.usersets = {"staff": frozenset({"alice", "@wheel"})}
    snap.user_groups = {"bob": ("wheel",)}
    snap.hostgroups = {"@small": ["node1"]}
    snap.quotas = quota("users {@staff,!bob} hosts @small to slots=1", "projects {*} to slots=1",
                        "pes !* to slots=100", "pes {mpi} to slots=2")
    snap.jobs = [job(1, owner="alice", hard_queues=["*@node1"]), job(2, owner="alice", hard_queues=["*@node1"]),
                 job(3, owner="bob", hard_queues=["*@node1"]), job(4, owner="bob", hard_queues=["*@node1"]),
                 job(5, owner="carol", project="p1"), job(6, owner="carol", project="p1"),
                 job(7, owner="dan", pe=("mpi", 2, 2)), job(8, owner="dan", pe=("mpi", 2, 2))]
    decision = schedule(snap)
    assert sorted(started(decision)) == [1, 3, 4, 5, 7]
    # users {..} is expanded (one count per user), hosts @small is not (one for the group)
    assert any('"alice/////" in rule "maxslots/1"' in r for r in decision.waiting[2])
    assert any('"/p1////" in rule "maxslots/2"' in r for r in decision.waiting[6])
    assert any('"//mpi///" in rule "maxslots/4"' in r for r in decision.waiting[8])


def test_running_jobs_and_consumables_count() -> None:
    complexes = dict(DEFAULT_COMPLEXES)
    complexes.update(parse_complex_table("lic lic INT <= YES YES 0 0\n"))
    snap = cluster(hosts=2, slots=8, complexes=complexes)
    snap.global_values["lic"] = "100"
    snap.quotas = quota("users {*} to lic=4,slots=10")
    snap.running = [RunningJob(job_id=50, owner="alice", hard_resources={"lic": "1"},
                               assignments=[Assignment("all.q", "node1", 3)])]
    snap.queue_instances[0].used_slots = 3
    snap.jobs = [job(1, owner="alice", hard_resources={"lic": "1"}), job(2, owner="alice", hard_resources={"lic": "1"}),
                 job(3, owner="bob", hard_resources={"lic": "4"})]
    decision = schedule(snap)
    assert sorted(started(decision)) == [1, 3]  # alice held 3 lic already
    assert any('"alice/////"' in r for r in decision.waiting[2])


def test_dynamic_limit_per_host_and_disabled_sets() -> None:
    snap = cluster(hosts=2, slots=8)
    snap.hosts["node1"].load["num_proc"] = "1"
    snap.hosts["node2"].load["num_proc"] = "2"
    snap.quotas = quota("hosts {*} to slots=$num_proc*2")
    snap.jobs = [job(n) for n in range(1, 10)]
    decision = schedule(snap)
    per_host = {h: sum(1 for d in decision.dispatches if d.assignments[0].host == h) for h in ("node1", "node2")}
    assert per_host == {"node1": 2, "node2": 4}
    snap.quotas = quota("hosts {*} to slots=$num_proc*2", enabled=False)
    assert len(schedule(snap).dispatches) == 9


def test_advance_reservation_jobs_are_not_limited() -> None:
    from qsys.sched.snapshot import AdvanceReservationSnap

    snap = cluster(hosts=1, slots=4)
    snap.quotas = quota("users {*} to slots=1")
    snap.advance_reservations = [AdvanceReservationSnap(7, 0.0, 1e9, [Assignment("all.q", "node1", 3)])]
    snap.jobs = [job(n, owner="alice", ar_id=7) for n in range(1, 4)] + [job(4, owner="alice"), job(5, owner="alice")]
    decision = schedule(snap)
    assert sorted(started(decision)) == [1, 2, 3, 4]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=25), st.integers(0, 4),
       st.integers(1, 4))
def test_no_user_ever_exceeds_an_expanded_limit(owners: list[str], limit: int, hosts: int) -> None:
    snap = cluster(hosts=hosts, slots=3)
    snap.pes["mpi"] = PeSnap("mpi", 999, allocation_rule="$fill_up")
    snap.quotas = quota(f"users {{*}} to slots={limit}")
    snap.running = [RunningJob(job_id=99, owner="a", assignments=[Assignment("all.q", "node1", 1)])]
    snap.queue_instances[0].used_slots = 1
    snap.jobs = [job(n + 1, owner=o, pe=("mpi", 1, 2) if n % 3 == 0 else None) for n, o in enumerate(owners)]
    decision = schedule(snap)
    held = {"a": 1, "b": 0, "c": 0}
    for d in decision.dispatches:
        held[next(j.owner for j in snap.jobs if j.job_id == d.job_id)] += d.pe_slots
    assert all(count <= max(limit, 1 if user == "a" else 0) for user, count in held.items())


def test_quotas_leave_a_pass_without_them_unchanged() -> None:
    def run(snap: Snapshot) -> list[tuple[int, str]]:
        return [(d.job_id, d.assignments[0].host) for d in schedule(snap).dispatches]

    snap = cluster(hosts=3, slots=2)
    snap.jobs = [job(n, owner=f"u{n % 3}") for n in range(1, 9)]
    before = run(snap)
    snap.quotas = quota("users {*} to slots=100")
    assert run(snap) == before


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from([None, ("mpi", 2, 3), ("smp", 2, 2)]),
                          st.sampled_from([{}, {"h_rt": "100"}, {"mem_free": "4G"}])),
                min_size=1, max_size=20),
       st.integers(1, 3), st.integers(1, 4))
def test_neutral_policies_change_no_decision(specs: list[tuple[str, object, dict[str, str]]], hosts: int,
                                             slots: int) -> None:
    """The policies' finer categories (per owner, project, reservation) place exactly what
    the plain pass places when no limit bites."""
    from qsys.sched.snapshot import ComplexDef

    def run(neutral: bool) -> list[tuple[int, int, list[tuple[str, str, int]]]]:
        snap = cluster(hosts=hosts, slots=slots)
        snap.jobs = [job(n + 1, owner=o, pe=pe, hard_resources=dict(res))  # type: ignore[arg-type]
                     for n, (o, pe, res) in enumerate(specs)]
        if neutral:
            snap.quotas = quota("users {*} to slots=1000000")
            snap.complexes = {**snap.complexes, "gpu": ComplexDef("gpu", "gpu", "RSMAP", "<=", True, "YES", "0", 0)}
        decision = schedule(snap)
        return [(d.job_id, d.task_id, [(a.queue, a.host, a.slots) for a in d.assignments])
                for d in decision.dispatches]

    assert run(True) == run(False)


def test_a_rule_counts_by_project_and_pe_only_when_it_names_them() -> None:
    # the matches are kept per what the rules look at: a per-user rule is one count for all
    # of a user's projects and PEs, a per-project one keeps the projects apart
    snap = cluster(hosts=1, slots=8)
    snap.pes = {"smp": PeSnap("smp", 100, allocation_rule="$pe_slots")}
    snap.queue_instances[0].pe_list = ["smp"]
    for rule, expected in (("users {*} to slots=3", [1, 2, 3]), ("projects {*} to slots=3", [1, 2, 3, 4, 5, 6])):
        snap.quotas = quota(rule)
        snap.jobs = [job(1, owner="u", project="p1"), job(2, owner="u", project="p2"),
                     job(3, owner="u", project="p1", pe=("smp", 1, 1)), job(4, owner="u", project="p2"),
                     job(5, owner="u", project="p1"), job(6, owner="u", project="p2")]
        assert started(schedule(snap)) == expected, rule
