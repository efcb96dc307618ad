"""Resource reservation and backfill, advance reservations and device ids in a pass."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from qsys.sched import DEFAULT_COMPLEXES, HostSnap, PendingJob, PeSnap, QueueInstanceSnap, Snapshot, schedule
from qsys.sched.reservation import run_time
from qsys.sched.snapshot import AdvanceReservationSnap, Assignment, ComplexDef, RunningJob
from tests.unit.test_sched_pass import cluster, job, started

OFFSET = 60.0  # Grid Engine's DURATION_OFFSET, added to every run-time estimate


def busy_cluster(ends: dict[str, list[float]], now: float = 1000.0) -> Snapshot:
    """4-slot hosts whose slots are held by running jobs ending (by their h_rt) at ``ends``."""
    snap = Snapshot(now=now, max_reservation=10)
    job_id = 100
    for host, host_ends in ends.items():
        snap.hosts[host] = HostSnap(host, load={"np_load_avg": "0.0", "num_proc": "4"})
        snap.queue_instances.append(QueueInstanceSnap("all.q", host, slots=4, used_slots=len(host_ends),
                                                      pe_list=["mpi", "smp"], complex_values={"h_rt": "INFINITY"}))
        for end in host_ends:
            job_id += 1
            snap.running.append(RunningJob(job_id=job_id, owner="u", assignments=[Assignment("all.q", host, 1)],
                                           start_time=now - 100, runtime=end - (now - 100) - OFFSET))
    snap.pes = {"mpi": PeSnap("mpi", 999, allocation_rule="$fill_up"),
                "smp": PeSnap("smp", 999, allocation_rule="$pe_slots")}
    return snap


def test_the_issue_scenario_a_pe_job_reserves_and_short_jobs_backfill() -> None:
    """4 hosts x 4 slots busy with long jobs of known h_rt, a 16-slot -R y PE job and a
    stream of short jobs: the PE job's slots are reserved from when the last long job ends;
    short jobs run in the gaps, long ones wait."""
    ends = {f"node{h}": [2000.0 + 100 * h] * 3 for h in range(1, 5)}  # one slot free per host
    snap = busy_cluster(ends)
    snap.jobs = [PendingJob(job_id=1, pe=("mpi", 16, 16), reserve=True, hard_resources={"h_rt": "3600"}, submit_time=1)]
    snap.jobs += [PendingJob(job_id=n, hard_resources={"h_rt": "300"}, submit_time=n) for n in range(2, 5)]
    snap.jobs += [PendingJob(job_id=9, hard_resources={"h_rt": "36000"}, submit_time=9)]
    decision = schedule(snap)
    [reservation] = decision.reservations
    assert reservation.job_id == 1 and reservation.pe_slots == 16
    assert reservation.start == 2400.0  # node4's jobs end last
    assert reservation.end == 2400.0 + 3600 + OFFSET
    assert sorted(started(decision)) == [2, 3, 4]  # 300 s + 60 s end before 2400
    # the last free slot stays free: job 9 would still run at 2400
    assert 'cannot run in queue instance "all.q@node4" because its slots are reserved for job 1' in decision.waiting[9]


def test_without_max_reservation_nothing_is_planned() -> None:
    snap = busy_cluster({"node1": [2000.0] * 3})
    snap.max_reservation = 0
    snap.jobs = [PendingJob(job_id=1, pe=("smp", 4, 4), reserve=True), PendingJob(job_id=2)]
    decision = schedule(snap)
    assert decision.reservations == [] and started(decision) == [2]


def test_a_job_without_reserve_gets_no_reservation_and_limits_apply() -> None:
    snap = busy_cluster({"node1": [2000.0] * 4, "node2": [3000.0] * 4})
    snap.max_reservation = 1
    snap.jobs = [PendingJob(job_id=1, pe=("smp", 4, 4)), PendingJob(job_id=2, reserve=True, pe=("smp", 4, 4)),
                 PendingJob(job_id=3, reserve=True, pe=("smp", 4, 4))]
    decision = schedule(snap)
    assert [r.job_id for r in decision.reservations] == [2]  # one per max_reservation
    assert decision.reservations[0].start == 2000.0
    assert [(a.host, a.slots) for a in decision.reservations[0].assignments] == [("node1", 4)]


def test_jobs_without_a_limit_hold_their_slots_for_ever() -> None:
    snap = busy_cluster({"node1": [2000.0] * 4})
    snap.running[0].runtime = math.inf  # no h_rt and default_duration INFINITY
    snap.jobs = [PendingJob(job_id=1, pe=("smp", 4, 4), reserve=True)]
    assert schedule(snap).reservations == []
    snap.default_duration = 500.0  # now its end is assumed
    [reservation] = schedule(snap).reservations
    assert reservation.start == 2000.0  # 900 + 500 + 60 is past: the others end later
    assert reservation.end == 2000.0 + 500 + OFFSET  # the reserved job too is assumed to take 500 s


def test_run_time_estimates() -> None:
    assert run_time({"h_rt": "1:00:00", "s_rt": "600"}, {}, math.inf) == 600
    assert run_time({}, {"h_rt": "7200", "s_rt": "INFINITY"}, math.inf) == 7200
    assert run_time({}, {"h_rt": "INFINITY"}, 42.0) == 42.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.floats(1100, 5000), min_size=0, max_size=4), min_size=1, max_size=4),
       st.lists(st.integers(10, 4000), max_size=8), st.integers(1, 8))
def test_backfilled_jobs_never_delay_the_reservation(host_ends: list[list[float]], runtimes: list[int],
                                                     width: int) -> None:
    ends = {f"node{n}": sorted(e) for n, e in enumerate(host_ends, 1)}
    snap = busy_cluster(ends)
    total = 4 * len(ends)
    snap.jobs = [PendingJob(job_id=1, pe=("mpi", min(width, total), min(width, total)), reserve=True,
                            hard_resources={"h_rt": "1000"}, submit_time=0)]
    snap.jobs += [PendingJob(job_id=n + 2, hard_resources={"h_rt": str(r)}, submit_time=n + 1)
                  for n, r in enumerate(runtimes)]
    decision = schedule(snap)
    if any(d.job_id == 1 for d in decision.dispatches):
        return  # it could start at once
    [reservation] = decision.reservations
    # at the reservation's start, the slots it was given must be free of anything still running
    for a in reservation.assignments:
        still = sum(1 for end in ends[a.host] if end > reservation.start)
        for d in decision.dispatches:
            runtime = next(j for j in snap.jobs if j.job_id == d.job_id).hard_resources["h_rt"]
            if d.assignments[0].host == a.host and snap.now + float(runtime) + OFFSET > reservation.start:
                still += 1
        assert still + a.slots <= 4


# ---------------------------------------------------------------- advance reservations


def test_advance_reservation_slots_are_kept_for_its_jobs() -> None:
    snap = cluster(hosts=1, slots=4)
    snap.advance_reservations = [AdvanceReservationSnap(4, 0.0, 1e9, [Assignment("all.q", "node1", 3)])]
    snap.jobs = [job(1), job(2), job(3, ar_id=4), job(4, ar_id=4, pe=("smp", 2, 2)), job(5, ar_id=4)]
    decision = schedule(snap)
    assert sorted(started(decision)) == [1, 3, 4]
    # SGE's words for a queue whose free slots an AR keeps (qstat -j of a job outside it)
    assert '(-l NONE) cannot run in queue "all.q@node1" because it offers only qc:slots=0.000000' in decision.waiting[2]
    assert 5 in decision.waiting


def test_advance_reservation_not_started_unknown_and_outside() -> None:
    snap = cluster(hosts=2, slots=2)
    snap.advance_reservations = [AdvanceReservationSnap(1, 5000.0, 9000.0, [Assignment("all.q", "node2", 2)])]
    snap.jobs = [job(1, ar_id=1), job(2, ar_id=9), job(3, hard_resources={"h_rt": "100"}, hard_queues=["*@node2"]),
                 job(4, hard_resources={"h_rt": "100"}, hard_queues=["*@node2"]), job(5), job(6)]
    decision = schedule(snap)
    assert decision.waiting[1] == ["job dropped because its advance reservation has not started yet"]
    assert decision.never[2] == "the advance reservation id 9 is invalid"
    # node2 is kept from 5000 on: short jobs may use it, jobs without a limit only node1
    assert sorted(started(decision)) == [3, 4, 5, 6] and \
        {d.assignments[0].host for d in decision.dispatches if d.job_id in (5, 6)} == {"node1"}


def test_running_jobs_of_an_advance_reservation_use_its_slots() -> None:
    snap = cluster(hosts=1, slots=4)
    snap.queue_instances[0].used_slots = 2
    snap.running = [RunningJob(job_id=9, ar_id=4, assignments=[Assignment("all.q", "node1", 2)])]
    snap.advance_reservations = [AdvanceReservationSnap(4, 0.0, 1e9, [Assignment("all.q", "node1", 3)])]
    snap.jobs = [job(1, ar_id=4), job(2, ar_id=4), job(3), job(4)]
    decision = schedule(snap)
    assert sorted(started(decision)) == [1, 3]


# ---------------------------------------------------------------- device ids


def gpu_cluster(**values: str) -> Snapshot:
    complexes = dict(DEFAULT_COMPLEXES)
    complexes["gpu"] = ComplexDef("gpu", "gpu", "RSMAP", "<=", True, "YES", "0", 0)
    snap = cluster(hosts=len(values), slots=8, complexes=complexes)
    for n, text in enumerate(values.values(), 1):
        snap.hosts[f"node{n}"].complex_values["gpu"] = text
    return snap


def test_gpus_are_granted_by_id() -> None:
    snap = gpu_cluster(a="2(0 1)", b="4")
    snap.hosts["node2"].devices_granted = {"gpu": ["1"]}
    snap.hosts["node2"].consumed = {"gpu": 1.0}
    snap.jobs = [job(1, hard_resources={"gpu": "1"}), job(2, hard_resources={"gpu": "2"}),
                 job(3, pe=("mpi", 2, 2), hard_resources={"gpu": "1"})]
    decision = schedule(snap)
    granted = {d.job_id: [(a.host, a.devices.get("gpu")) for a in d.assignments] for d in decision.dispatches}
    assert granted[1] == [("node1", ["0"])]
    assert granted[2] == [("node2", ["0", "2"])]  # 1 is held by a running job
    assert granted[3] in ([("node1", ["1"]), ("node2", ["3"])], [("node2", ["3"]), ("node1", ["1"])])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=1, max_size=12), st.lists(st.integers(0, 3), max_size=3))
def test_no_id_is_ever_granted_twice(requests: list[int], held: list[int]) -> None:
    snap = gpu_cluster(a="4(0 1 2 3)", b="2(x y)")
    ids = [str(i) for i in sorted(set(held))]
    snap.hosts["node1"].devices_granted = {"gpu": ids}
    snap.hosts["node1"].consumed = {"gpu": float(len(ids))}
    snap.jobs = [job(n + 1, hard_resources={"gpu": str(r)}) for n, r in enumerate(requests)]
    decision = schedule(snap)
    seen: dict[str, list[str]] = {"node1": list(ids), "node2": []}
    for d in decision.dispatches:
        [a] = d.assignments
        got = a.devices["gpu"]
        assert len(got) == int(next(j for j in snap.jobs if j.job_id == d.job_id).hard_resources["gpu"])
        seen[a.host].extend(got)
    for ids_seen in seen.values():
        assert len(ids_seen) == len(set(ids_seen))
