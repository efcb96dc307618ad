"""Scheduling passes over small hand-made clusters."""

from __future__ import annotations

import time
from collections import Counter

from qsys.sched import (
    DEFAULT_COMPLEXES,
    HostSnap,
    PendingJob,
    PeSnap,
    QueueInstanceSnap,
    Snapshot,
    normalize_priorities,
    parse_complex_table,
    schedule,
)

LIMITS = {"h_rt": "INFINITY", "h_vmem": "INFINITY", "s_rt": "INFINITY"}


def cluster(hosts: int = 2, slots: int = 2, queues: tuple[str, ...] = ("all.q",), **extra: object) -> Snapshot:
    snap = Snapshot(now=1000.0)
    for h in range(1, hosts + 1):
        name = f"node{h}"
        snap.hosts[name] = HostSnap(name, load={"np_load_avg": "0.0", "arch": "lx-amd64",
                                               "num_proc": str(slots), "mem_free": "8G"})
        for q in queues:
            snap.queue_instances.append(QueueInstanceSnap(
                queue=q, host=name, slots=slots, pe_list=["smp", "mpi", "rr", "two"],
                complex_values=dict(LIMITS)))
    snap.pes = {
        "smp": PeSnap("smp", 999, allocation_rule="$pe_slots"),
        "mpi": PeSnap("mpi", 99999, allocation_rule="$fill_up"),
        "rr": PeSnap("rr", 100, allocation_rule="$round_robin"),
        "two": PeSnap("two", 100, allocation_rule="2"),
    }
    for key, value in extra.items():
        setattr(snap, key, value)
    return snap


def job(job_id: int, **kw: object) -> PendingJob:
    kw.setdefault("submit_time", float(job_id))
    return PendingJob(job_id=job_id, **kw)  # type: ignore[arg-type]


def started(decision: object) -> list[int]:
    return [d.job_id for d in decision.dispatches]  # type: ignore[attr-defined]


def test_fills_slots_and_reports_the_rest() -> None:
    snap = cluster(hosts=2, slots=2)
    snap.jobs = [job(i) for i in range(1, 7)]
    decision = schedule(snap)
    assert started(decision) == [1, 2, 3, 4]
    per_qi = Counter((a.queue, a.host) for d in decision.dispatches for a in d.assignments)
    assert per_qi == {("all.q", "node1"): 2, ("all.q", "node2"): 2}
    assert set(decision.waiting) == {5, 6}
    assert any("full" in line for line in decision.waiting[5])
    assert not decision.never


def test_used_slots_and_states_are_respected() -> None:
    snap = cluster(hosts=3, slots=2)
    snap.queue_instances[0].used_slots = 2  # node1 full
    snap.queue_instances[1].states = "u"  # node2 not reporting
    snap.jobs = [job(i) for i in range(1, 5)]
    decision = schedule(snap)
    assert [d.assignments[0].host for d in decision.dispatches] == ["node3", "node3"]
    reasons = decision.waiting[3]
    assert any("temporarily not available" in r for r in reasons)
    assert not decision.never  # down or full is "not now", not "never"


def test_order_priority_then_submit_time_then_id() -> None:
    snap = cluster(hosts=1, slots=2)
    snap.jobs = [
        job(1, submit_time=5.0),
        job(2, submit_time=1.0),
        job(3, submit_time=9.0, priority=10),
        job(4, submit_time=1.0),
        job(5, priority=-5, submit_time=0.0),
    ]
    assert started(schedule(snap)) == [3, 2]


def test_queue_sort_by_load_and_seqno() -> None:
    snap = cluster(hosts=3, slots=1)
    snap.hosts["node1"].load["np_load_avg"] = "0.9"
    snap.hosts["node2"].load["np_load_avg"] = "0.1"
    snap.hosts["node3"].load["np_load_avg"] = "0.5"
    snap.queue_instances[1].seq_no = 5  # node2
    snap.jobs = [job(1), job(2), job(3)]
    by_load = [d.assignments[0].host for d in schedule(snap).dispatches]
    assert by_load == ["node2", "node3", "node1"]
    snap.queue_sort_method = "seqno"
    by_seq = [d.assignments[0].host for d in schedule(snap).dispatches]
    assert by_seq == ["node3", "node1", "node2"]  # seq 0 first (by load), then seq 5


def test_queue_requests_with_wildcards_and_hosts() -> None:
    snap = cluster(hosts=3, slots=4, queues=("all.q", "big.q"))
    snap.jobs = [
        job(1, hard_queues=["big.q@node2"]),
        job(2, hard_queues=["*@node[3]"]),
        job(3, hard_queues=["big*"]),
    ]
    decision = schedule(snap)
    got = {d.job_id: (d.assignments[0].queue, d.assignments[0].host) for d in decision.dispatches}
    assert got[1] == ("big.q", "node2")
    assert got[2][1] == "node3"
    assert got[3][0] == "big.q"


def test_interactive_needs_interactive_queue() -> None:
    snap = cluster(hosts=1, slots=2, queues=("batch.q", "int.q"))
    snap.queue_instances[0].qtype = {"BATCH"}
    snap.queue_instances[1].qtype = {"INTERACTIVE"}
    snap.jobs = [job(1, interactive=True), job(2)]
    decision = schedule(snap)
    got = {d.job_id: d.assignments[0].queue for d in decision.dispatches}
    assert got == {1: "int.q", 2: "batch.q"}


def test_resource_requests_against_load_host_and_queue_values() -> None:
    snap = cluster(hosts=2, slots=4)
    snap.hosts["node2"].load["arch"] = "sol-sparc64"
    snap.hosts["node1"].load["mem_free"] = "1G"
    snap.queue_instances[1].complex_values["h_rt"] = "10:00:00"
    snap.queue_instances[0].complex_values["h_rt"] = "1:00:00"
    snap.jobs = [
        job(1, hard_resources={"arch": "sol*"}),
        job(2, hard_resources={"mf": "4G"}),  # shortcut; only node2 has 8G free
        job(3, hard_resources={"h_rt": "5:00:00"}),  # only node2's queue allows 5 h
        job(4, hard_resources={"h": "node1"}),
        job(5, hard_resources={"q": "all.q", "hostname": "NODE1"}),  # HOST compares caselessly
    ]
    decision = schedule(snap)
    got = {d.job_id: d.assignments[0].host for d in decision.dispatches}
    assert got == {1: "node2", 2: "node2", 3: "node2", 4: "node1", 5: "node1"}


def test_consumables_are_consumed_within_a_pass() -> None:
    complexes = dict(DEFAULT_COMPLEXES)
    complexes.update(parse_complex_table("gpu gpu INT <= YES YES 0 0\nlic lic INT <= YES JOB 0 0\n"))
    snap = cluster(hosts=2, slots=8, complexes=complexes)
    snap.hosts["node1"].complex_values["gpu"] = "2"
    snap.hosts["node2"].complex_values["gpu"] = "1"
    snap.hosts["node2"].consumed["gpu"] = 1.0  # node2's only GPU is in use
    snap.global_values["lic"] = "3"
    snap.jobs = [job(i, hard_resources={"gpu": "1"}) for i in range(1, 5)]
    snap.jobs.append(job(10, pe=("mpi", 4, 4), hard_resources={"lic": "2"}))
    snap.jobs.append(job(11, pe=("mpi", 1, 1), hard_resources={"lic": "2"}))
    decision = schedule(snap)
    assert sorted(started(decision)) == [1, 2, 10]
    assert {d.assignments[0].host for d in decision.dispatches if d.job_id < 10} == {"node1"}
    assert any("gc:lic" in r or "job-level" in r for r in decision.waiting[11])
    assert any("hc:gpu=0" in r for r in decision.waiting[3])
    assert not decision.never


def test_consumable_per_slot_for_pe_jobs() -> None:
    complexes = dict(DEFAULT_COMPLEXES)
    complexes["h_vmem"] = parse_complex_table("h_vmem h_vmem MEMORY <= YES YES 0 0")["h_vmem"]
    snap = cluster(hosts=2, slots=8, complexes=complexes)
    for name in ("node1", "node2"):
        snap.hosts[name].complex_values["h_vmem"] = "4G"
    snap.jobs = [job(1, pe=("mpi", 2, 8), hard_resources={"h_vmem": "1G"})]
    decision = schedule(snap)
    [d] = decision.dispatches
    assert d.pe_slots == 8
    assert [(a.host, a.slots) for a in d.assignments] == [("node1", 4), ("node2", 4)]


def test_category_skipped_after_first_miss() -> None:
    snap = cluster(hosts=1, slots=1)
    snap.jobs = [job(i, hard_resources={"h_rt": "1:00"}) for i in range(1, 4)] + [job(4)]
    decision = schedule(snap)
    assert started(decision) == [1]
    assert decision.waiting[2] is decision.waiting[3]  # the category's reasons, computed once
    assert 4 in decision.waiting


def test_array_tasks_and_task_concurrency() -> None:
    snap = cluster(hosts=2, slots=4)
    snap.jobs = [job(1, task_ids=list(range(1, 11)), task_concurrency=3, running_tasks=1)]
    decision = schedule(snap)
    assert [(d.job_id, d.task_id) for d in decision.dispatches] == [(1, 1), (1, 2)]
    assert any("-tc" in r for r in decision.waiting[1])
    snap.jobs = [job(2, task_ids=list(range(1, 11)))]
    decision = schedule(snap)
    assert [d.task_id for d in decision.dispatches] == list(range(1, 9))
    assert 2 in decision.waiting


def test_holds_dependencies_and_start_time() -> None:
    snap = cluster(hosts=1, slots=4)
    snap.jobs = [
        job(1, held=True),
        job(2, waiting_on=[1]),
        job(3, start_time=snap.now + 60),
        job(4, start_time=snap.now - 60),
    ]
    decision = schedule(snap)
    assert started(decision) == [4]
    assert "hold" in decision.waiting[1][0]
    assert "dependencies" in decision.waiting[2][0]
    assert "-a" in decision.waiting[3][0]


def test_never_runnable_jobs() -> None:
    snap = cluster(hosts=2, slots=2)
    snap.queue_instances[0].complex_values["h_rt"] = "1:00:00"
    snap.queue_instances[1].complex_values["h_rt"] = "2:00:00"
    snap.jobs = [
        job(1, hard_queues=["nosuch.q"]),
        job(2, hard_resources={"nosuch": "1"}),
        job(3, hard_resources={"h_rt": "3:00:00"}),
        job(4, hard_resources={"load_avg": "1"}),  # not requestable
        job(5, pe=("nope*", 1, 1)),
        job(6, pe=("smp", 3, 3)),  # no host has 3 slots
        job(7, hard_resources={"arch": "sol*"}),
        job(8, interactive=True),  # fits: all.q is BATCH INTERACTIVE
    ]
    decision = schedule(snap)
    assert started(decision) == [8]
    assert 'unknown queue "nosuch.q"' in decision.never[1]
    assert "nosuch" in decision.never[2]
    assert "h_rt" in decision.never[3]
    assert "load_avg" in decision.never[4]
    assert "parallel environment" in decision.never[5]
    assert 6 in decision.never and 7 in decision.never
    assert 8 not in decision.never


def test_immediate_jobs() -> None:
    snap = cluster(hosts=1, slots=1)
    snap.jobs = [job(1), job(2, now=True), job(3, now=True, submit_time=0.5)]
    decision = schedule(snap)
    assert started(decision) == [3]
    assert decision.immediate_failed == [2]


def test_pe_rules_in_a_pass() -> None:
    snap = cluster(hosts=3, slots=4)
    snap.jobs = [job(1, pe=("smp", 2, 8))]
    [d] = schedule(snap).dispatches
    assert (d.pe, d.pe_slots, len(d.assignments)) == ("smp", 4, 1)
    snap.jobs = [job(2, pe=("rr", 5, 5))]
    [d] = schedule(snap).dispatches
    assert sorted(a.slots for a in d.assignments) == [1, 2, 2]
    snap.jobs = [job(3, pe=("two", 1, 5))]
    [d] = schedule(snap).dispatches
    assert (d.pe_slots, [a.slots for a in d.assignments]) == (4, [2, 2])
    snap.jobs = [job(4, pe=("mpi", 10, 10), master_queues=["all.q@node3"])]
    [d] = schedule(snap).dispatches
    assert d.assignments[0].host == "node3" and d.pe_slots == 10
    snap.pes["mpi"].used_slots = 99995
    snap.jobs = [job(5, pe=("mpi", 2, 12))]
    [d] = schedule(snap).dispatches
    assert d.pe_slots == 4  # the PE's own limit


def test_pe_slots_consumed_within_a_pass() -> None:
    snap = cluster(hosts=2, slots=4)
    snap.pes["smp"].slots = 6
    snap.jobs = [job(1, pe=("smp", 4, 4)), job(2, pe=("smp", 4, 4)), job(3, pe=("smp", 2, 2))]
    decision = schedule(snap)
    assert started(decision) == [1, 3]
    assert any('PE "smp"' in r for r in decision.waiting[2])


def test_snapshot_is_not_modified() -> None:
    snap = cluster(hosts=1, slots=2)
    snap.jobs = [job(1), job(2)]
    schedule(snap)
    assert snap.queue_instances[0].used_slots == 0
    assert len(schedule(snap).dispatches) == 2


def test_normalize_priorities() -> None:
    assert normalize_priorities({1: 0, 2: 0}) == {1: 0.5, 2: 0.5}
    assert normalize_priorities({1: -100, 2: 0, 3: 100}) == {1: 0.0, 2: 0.5, 3: 1.0}
    assert normalize_priorities({}) == {}


def test_many_jobs_in_few_categories() -> None:
    snap = cluster(hosts=50, slots=4, queues=("all.q", "short.q"))  # 100 queue instances
    for qi in snap.queue_instances:
        if qi.queue == "short.q":
            qi.complex_values["h_rt"] = "1:00:00"
    kinds = [{}, {"h_rt": "0:30:00"}, {"h_rt": "2:00:00"}]
    snap.jobs = [job(i, hard_resources=dict(kinds[i % 3])) for i in range(1, 5001)]
    began = time.perf_counter()
    decision = schedule(snap)
    print(f"5000 jobs, 100 queue instances: {1000 * (time.perf_counter() - began):.2f} ms")
    assert len(decision.dispatches) == 400
    assert len(decision.waiting) == 4600
    hosts = Counter((a.queue, a.host) for d in decision.dispatches for a in d.assignments)
    assert max(hosts.values()) == 4


def test_load_adjustments_spread_a_pass_over_hosts() -> None:
    snap = cluster(hosts=2, slots=4)
    snap.jobs = [job(1), job(2), job(3)]
    assert [d.assignments[0].host for d in schedule(snap).dispatches] == ["node1", "node2", "node1"]
    snap.load_adjustments = {}
    assert [d.assignments[0].host for d in schedule(snap).dispatches] == ["node1"] * 3


def test_host_groups_in_queue_requests() -> None:
    snap = cluster(hosts=3, slots=2, hostgroups={"@odd": ["node1", "node3"]})
    snap.jobs = [job(i, hard_queues=["all.q@@odd"]) for i in range(1, 6)]
    decision = schedule(snap)
    assert sorted(d.assignments[0].host for d in decision.dispatches) == ["node1", "node1", "node3", "node3"]


def test_master_queue_outside_the_hard_queue_list() -> None:
    snap = cluster(hosts=2, slots=2, queues=("all.q", "master.q"))
    snap.jobs = [job(1, pe=("mpi", 3, 3), hard_queues=["all.q"], master_queues=["master.q@node2"])]
    [d] = schedule(snap).dispatches
    first, *rest = d.assignments
    assert (first.queue, first.host, first.slots) == ("master.q", "node2", 1)
    assert {a.queue for a in rest} == {"all.q"} and sum(a.slots for a in rest) == 2


def test_load_threshold_puts_a_queue_in_alarm() -> None:
    snap = cluster(hosts=2, slots=2)
    snap.hosts["node1"].load["np_load_avg"] = "2.0"
    for qi in snap.queue_instances:
        qi.load_thresholds = {"np_load_avg": "1.75"}
    snap.jobs = [job(1), job(2), job(3)]
    decision = schedule(snap)
    assert [d.assignments[0].host for d in decision.dispatches] == ["node2", "node2"]
    assert any("overloaded" in r for r in decision.waiting[3])


def test_consumable_default_applies_without_a_request() -> None:
    complexes = dict(DEFAULT_COMPLEXES)
    complexes.update(parse_complex_table("excl_tok tok INT <= YES YES 1 0\n"))
    snap = cluster(hosts=2, slots=4, complexes=complexes)
    snap.hosts["node1"].complex_values["excl_tok"] = "1"  # node2 does not define it: no limit there
    snap.load_adjustments = {}
    snap.jobs = [job(i) for i in range(1, 5)]
    hosts = [d.assignments[0].host for d in schedule(snap).dispatches]
    assert hosts == ["node1", "node2", "node2", "node2"]


def test_late_category_sees_loads_raised_earlier_in_the_pass() -> None:
    snap = cluster(hosts=3, slots=4)
    snap.jobs = [job(1), job(2), job(3, hard_resources={"h_rt": "1:00"}), job(4, hard_resources={"h_rt": "1:00"})]
    hosts = [d.assignments[0].host for d in schedule(snap).dispatches]
    assert hosts == ["node1", "node2", "node3", "node1"]
