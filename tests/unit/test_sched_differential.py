"""The fast scheduling pass decides exactly as the plain one did (tests/unit/sched_reference.py).

Hypothesis makes small clusters that reach every corner the fast pass cuts: queue types, -q
and -masterq lists, PE patterns and allocation rules, fixed values and load values (the ones a
memo must not keep), consumables at queue, host and cluster level, job-level consumables,
access lists, projects, checkpointing, unavailable instances, load adjustments, seq_no
ordering, arrays with -tc, holds, -now y, quotas (per owner, and per owner and host),
reservations and device ids. Each snapshot is decided by both; then a second snapshot (the
next pass: other jobs running, loads moved, sometimes another configuration) is decided by the
fast pass with the memo of the first, and again compared: what the memo keeps must never
change a decision.
"""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qsys.objects import parse_quota_sets
from qsys.sched import DEFAULT_COMPLEXES, HostSnap, PendingJob, PeSnap, QueueInstanceSnap, Snapshot, schedule
from qsys.sched.memo import Memo
from qsys.sched.snapshot import AdvanceReservationSnap, Assignment, ComplexDef, Decision
from tests.unit import sched_reference

USERS = ("alice", "bob", "carol")
PES = ("smp", "mpi", "rr", "two")
LIMITS = {"h_rt": "INFINITY", "s_rt": "INFINITY", "h_vmem": "INFINITY"}
COMPLEXES = {
    **DEFAULT_COMPLEXES,
    "gpu": ComplexDef("gpu", "gpu", "INT", "<=", True, "YES", "0", 0),
    "lic": ComplexDef("lic", "lic", "INT", "<=", True, "JOB", "0", 0),
    "fast": ComplexDef("fast", "fast", "BOOL", "==", True, "NO", "NONE", 0),
}
QUOTA = "{\n name peruser\n enabled TRUE\n limit users {*} to slots=%d\n}\n"
QUOTA_HOSTS = "{\n name peruserhost\n enabled TRUE\n limit users {*} hosts {*} to slots=%d\n}\n"


@st.composite
def hosts(draw: st.DrawFn, count: int) -> dict[str, HostSnap]:
    out = {}
    for h in range(1, count + 1):
        name = f"node{h}"
        load = {} if draw(st.integers(0, 9)) == 0 else {
            "np_load_avg": draw(st.sampled_from(["0.00", "0.10", "0.50", "2.00"])),
            "arch": draw(st.sampled_from(["lx-amd64", "lx-arm64"])),
            "num_proc": "4", "mem_free": draw(st.sampled_from(["1G", "8G"]))}
        values = {}
        if draw(st.booleans()):
            values["gpu"] = str(draw(st.integers(0, 3)))
        if draw(st.integers(0, 3)) == 0:
            values["fast"] = draw(st.sampled_from(["TRUE", "FALSE"]))
        out[name] = HostSnap(
            name, load=load, complex_values=values,
            consumed={"gpu": float(draw(st.integers(0, 1)))} if "gpu" in values else {},
            denied_owners=frozenset(draw(st.sets(st.sampled_from(USERS), max_size=1))) if h == 1 else frozenset(),
            xprojects=["secret"] if draw(st.integers(0, 5)) == 0 else [])
    return out


@st.composite
def instance(draw: st.DrawFn, queue: str, host: str) -> QueueInstanceSnap:
    slots = draw(st.sampled_from([0, 1, 2, 3, 4, 4]))
    values = dict(LIMITS)
    if draw(st.integers(0, 3)) == 0:
        values["gpu"] = str(draw(st.integers(0, 2)))
    if draw(st.integers(0, 4)) == 0:
        values["h_rt"] = "1:00:00"
    return QueueInstanceSnap(
        queue, host, seq_no=draw(st.integers(0, 2)), slots=slots,
        used_slots=draw(st.integers(0, slots)) if draw(st.booleans()) else 0,
        states=draw(st.sampled_from(["", "", "", "", "d", "E"])),
        qtype=draw(st.sampled_from([{"BATCH", "INTERACTIVE"}, {"BATCH"}, {"INTERACTIVE"}])),
        pe_list=sorted(draw(st.sets(st.sampled_from(PES)))), complex_values=values,
        load_thresholds={"np_load_avg": "1.75"} if draw(st.booleans()) else {},
        denied_owners=frozenset(draw(st.sets(st.sampled_from(USERS), max_size=1))) if draw(st.integers(0, 5)) == 0
        else frozenset(),
        ckpt_list=["ck"] if draw(st.integers(0, 5)) == 0 else [],
        projects=["open"] if draw(st.integers(0, 7)) == 0 else [])


@st.composite
def job(draw: st.DrawFn, job_id: int) -> PendingJob:
    resources: dict[str, str] = {}
    for name, values in (("h_rt", ["0:10:0", "2:00:00"]), ("arch", ["lx-amd64", "lx-arm64", "*64"]),
                         ("gpu", ["1", "2"]), ("lic", ["1"]), ("mem_free", ["2G"]), ("fast", ["TRUE"]),
                         ("h_vmem", ["1G"])):
        if draw(st.integers(0, 7)) == 0:
            resources[name] = draw(st.sampled_from(values))
    if draw(st.integers(0, 29)) == 0:
        resources["nosuch"] = "1"
    pe = None
    if draw(st.integers(0, 2)) == 0:
        low = draw(st.integers(1, 5)) if draw(st.integers(0, 9)) else 0  # 0: an invalid range
        pe = (draw(st.sampled_from([*PES, *PES, "*", "m*", "nope"])), low, low + draw(st.integers(-1, 4)))
    tasks = draw(st.integers(1, 4))
    return PendingJob(
        job_id=job_id, task_ids=list(range(1, tasks + 1)), task_concurrency=draw(st.sampled_from([0, 0, 0, 1, 2])),
        priority=draw(st.sampled_from([0, 0, -10, 10])), submit_time=float(draw(st.integers(0, 5))),
        owner=draw(st.sampled_from(USERS)), interactive=draw(st.integers(0, 7)) == 0,
        hard_resources=resources,
        hard_queues=draw(st.sampled_from([[], [], [], [], [], ["all.q"], ["b.q@node2"], ["*@node1", "b.q"], ["nope.q"]])),
        master_queues=draw(st.sampled_from([[], [], ["all.q@node1"], ["b.q"]])) if pe else [],
        pe=pe, start_time=draw(st.sampled_from([None, None, None, 2000.0])),
        held=draw(st.integers(0, 9)) == 0, waiting_on=[1] if draw(st.integers(0, 9)) == 0 else [],
        now=draw(st.integers(0, 5)) == 0,
        checkpoint="ck" if draw(st.integers(0, 7)) == 0 else None,
        project=draw(st.sampled_from([None, None, None, "open", "secret"])),
        reserve=draw(st.integers(0, 5)) == 0)


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    snap = Snapshot(now=1000.0, complexes=dict(COMPLEXES))
    snap.hosts = draw(hosts(draw(st.integers(1, 5))))
    for name in snap.hosts:
        for queue in draw(st.sampled_from([("all.q",), ("all.q", "b.q"), ("b.q",)])):
            snap.queue_instances.append(draw(instance(queue, name)))
    snap.pes = {"smp": PeSnap("smp", draw(st.integers(1, 20)), allocation_rule="$pe_slots"),
                "mpi": PeSnap("mpi", 100, draw(st.integers(0, 3)), allocation_rule="$fill_up"),
                "rr": PeSnap("rr", 100, allocation_rule="$round_robin",
                             denied_owners=frozenset(["bob"]) if draw(st.booleans()) else frozenset()),
                "two": PeSnap("two", 100, allocation_rule="2")}
    if draw(st.booleans()):
        snap.global_values = {"lic": str(draw(st.integers(0, 3)))}
    snap.queue_sort_method = draw(st.sampled_from(["load", "seqno"]))
    if draw(st.booleans()):
        snap.load_adjustments = {}
    snap.max_reasons = draw(st.sampled_from([10, 2]))
    snap.jobs = [draw(job(n)) for n in range(1, draw(st.integers(1, 20)) + 1)]
    policy = draw(st.sampled_from(["none", "none", "quota", "quota_hosts", "reserve", "devices"]))
    if policy == "quota":
        snap.quotas = parse_quota_sets(QUOTA % draw(st.integers(1, 4)))
    elif policy == "quota_hosts":  # a rule that looks at hosts: decided per queue instance
        snap.quotas = parse_quota_sets(QUOTA_HOSTS % draw(st.integers(1, 3)))
    elif policy == "reserve":
        snap.max_reservation = 2
    elif policy == "devices":  # the gpus as device ids, some of them held by jobs the ledger does not count
        snap.complexes["gpu"] = dataclasses.replace(snap.complexes["gpu"], type="RSMAP")
        for name, host in snap.hosts.items():
            if "gpu" in host.complex_values and draw(st.booleans()):
                snap.hosts[name] = dataclasses.replace(host, devices_granted={"gpu": ["0"]})
    return snap


@st.composite
def next_pass(draw: st.DrawFn, snap: Snapshot) -> Snapshot:
    """The snapshot of a later pass: slots taken or freed, loads moved, jobs gone and
    arrived; sometimes the configuration changed too."""
    qis = [dataclasses.replace(qi, used_slots=draw(st.integers(0, qi.slots))) for qi in snap.queue_instances]
    hosts = {}
    for name, host in snap.hosts.items():
        load = dict(host.load)
        if load:
            load["np_load_avg"] = draw(st.sampled_from(["0.00", "0.30", "3.00"]))
            load["mem_free"] = draw(st.sampled_from(["1G", "8G"]))
        hosts[name] = dataclasses.replace(host, load=load)
    if qis and draw(st.integers(0, 3)) == 0:  # qconf -mq: the memo must start afresh
        qis[0] = dataclasses.replace(qis[0], pe_list=sorted(set(PES) - set(qis[0].pe_list)),
                                     qtype={"BATCH"}, slots=qis[0].slots + 1)
    jobs = [j for j in snap.jobs if draw(st.booleans())] + [draw(job(100 + n)) for n in range(draw(st.integers(0, 4)))]
    return dataclasses.replace(snap, queue_instances=qis, hosts=hosts, jobs=jobs)


def same(fast: Decision, plain: Decision) -> None:
    assert fast.dispatches == plain.dispatches
    assert fast.never == plain.never
    assert fast.waiting == plain.waiting
    assert fast.immediate_failed == plain.immediate_failed
    assert fast.reservations == plain.reservations


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_fast_pass_decides_as_the_plain_one(data: st.DataObject) -> None:
    first = data.draw(snapshots())
    memo = Memo()
    same(schedule(first, memo), sched_reference.schedule(first))
    later = data.draw(next_pass(first))
    same(schedule(later, memo), sched_reference.schedule(later))
    same(schedule(later), sched_reference.schedule(later))  # and with a fresh memo


def test_an_instance_one_owner_may_not_use_stays_for_the_others() -> None:
    # owners walk their requests' ranking together: a per-host quota that holds one of them
    # back on node1 must leave node1 to the next owner (hypothesis seldom meets this order)
    snap = Snapshot(now=1000.0, load_adjustments={})
    for name, load in (("node1", "0.10"), ("node2", "0.20")):
        snap.hosts[name] = HostSnap(name, load={"np_load_avg": load, "arch": "lx-amd64", "num_proc": "4"})
        snap.queue_instances.append(QueueInstanceSnap("all.q", name, slots=4, complex_values=dict(LIMITS)))
    snap.quotas = parse_quota_sets(QUOTA_HOSTS % 1)
    snap.jobs = [PendingJob(job_id=n, owner=owner, submit_time=float(n)) for n, owner in ((1, "a"), (2, "a"), (3, "b"))]
    fast = schedule(snap)
    same(fast, sched_reference.schedule(snap))
    assert [d.assignments[0].host for d in fast.dispatches] == ["node1", "node2", "node1"]


def test_owners_asked_again_once_the_cluster_is_full() -> None:
    # many categories of one owner (one per request) ask the owner's quotas the same while
    # the cluster fills; the answer is kept until some usage grows, and a limit on a
    # non-consumable (arch) keeps apart requests that differ in it
    snap = Snapshot(now=1000.0, load_adjustments={})
    for name, arch, used in (("node1", "lx-amd64", 3), ("node2", "lx-amd64", 3), ("node3", "lx-arm64", 0)):
        snap.hosts[name] = HostSnap(name, load={"np_load_avg": "0.10", "arch": arch, "num_proc": "4"})
        snap.queue_instances.append(QueueInstanceSnap("all.q", name, slots=3, used_slots=used,
                                                      complex_values=dict(LIMITS)))
    snap.quotas = parse_quota_sets("{\n name amd\n enabled TRUE\n limit users {alice} to arch=lx-amd64\n}\n"
                                   + QUOTA % 2)
    requests: list[dict[str, str]] = [{}, {"h_rt": "600"}, {"arch": "lx-arm64"}, {"arch": "lx-amd64"}, {"h_rt": "60"}]
    # alice first asks for the full amd64 hosts (her quotas let her), then for arm64 (they do not)
    snap.jobs = [PendingJob(job_id=1, owner="alice", submit_time=0.0, hard_resources={"arch": "lx-amd64"}),
                 PendingJob(job_id=2, owner="alice", submit_time=0.0, hard_resources={"arch": "lx-arm64"})]
    snap.jobs += [PendingJob(job_id=n, owner=USERS[n % 3] if n % 4 else "dave", submit_time=float(n),
                             hard_resources=dict(requests[n % len(requests)])) for n in range(3, 40)]
    fast = schedule(snap)
    same(fast, sched_reference.schedule(snap))
    assert 'exceeds limit "alice/////" in rule "amd/1"' in " ".join(fast.waiting[2])
    assert 1 in fast.waiting and len(fast.dispatches) == 3  # node3's slots, to others


def test_reserve_changes_nothing_where_no_reservation_is_made() -> None:
    # an advance reservation to come puts a timeline in the pass; with max_reservation 0 the
    # -R y jobs share the categories of the others, and decide as they would without -R y
    snap = Snapshot(now=1000.0, load_adjustments={})
    for name in ("node1", "node2"):
        snap.hosts[name] = HostSnap(name, load={"np_load_avg": "0.10", "arch": "lx-amd64", "num_proc": "4"})
        snap.queue_instances.append(QueueInstanceSnap("all.q", name, slots=2, complex_values=dict(LIMITS)))
    snap.advance_reservations = [AdvanceReservationSnap(7, 1500.0, 5000.0, [Assignment("all.q", "node2", 2)])]
    snap.jobs = [PendingJob(job_id=n, owner=USERS[n % 3], submit_time=float(n), reserve=n % 2 == 0,
                            hard_resources={"h_rt": "300" if n % 3 else "3600"}) for n in range(1, 12)]
    with_r = schedule(snap)
    same(with_r, sched_reference.schedule(snap))
    without = dataclasses.replace(snap, jobs=[dataclasses.replace(j, reserve=False) for j in snap.jobs])
    same(with_r, schedule(without))
    assert len(with_r.dispatches) == 4 and not with_r.reservations
    # the 3600 s jobs may not start on node2 (its reservation starts in 500 s)
    assert all(d.assignments[0].host == "node1" for d in with_r.dispatches if d.job_id % 3 == 0)
