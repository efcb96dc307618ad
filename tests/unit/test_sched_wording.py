"""Why a job waits, in Grid Engine's words: each case rebuilds the one-host cell of a capture
in tests/reference/sge-8.1.9/ (``qstat_j_info_*``, ``qsub_w_v_*``: real SGE 8.1.9 output, see
INDEX.tsv) and checks that the pass gives SGE's lines. A value that fails is named where it
comes from: ``in queue "q@h"`` (qc/qf), ``at host "h"`` (hc/hf/hl) or ``globally`` (gc/gf),
after the job's whole -l list, sorted; a cluster queue's -q or PE list is said once for it."""

from __future__ import annotations

from pathlib import Path

from qsys.sched import DEFAULT_COMPLEXES, HostSnap, PendingJob, PeSnap, QueueInstanceSnap, Snapshot, schedule
from qsys.sched.snapshot import ComplexDef, Decision

REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "sge-8.1.9"
LIMITS = {"h_rt": "INFINITY", "s_rt": "INFINITY", "h_vmem": "INFINITY"}


def sge_lines(name: str) -> list[str]:
    """The ``scheduling info:`` lines of a capture (qstat -j), or a qsub -w v answer's
    reasons without their ``Job N`` (the pass words a reason; qsub puts the job before it)."""
    text = (REFERENCE / f"{name}.txt").read_text().splitlines()
    if text[0].startswith("scheduling info:"):
        return [line[28:] for line in text]
    reasons = [line.removeprefix("Unable to run job: ") for line in text if line.startswith(("Unable", "Job"))]
    return [line.split(" ", 2)[2] for line in reasons]


def cell(*, p3: bool = False, host_slots: str | None = None) -> Snapshot:
    """SGE's cell of the captures: host vm, all.q (4 slots, qgpu=1, PEs), pzq.q (1 slot, no
    PE), with p3.q (2 slots, INTERACTIVE) once it was added; consumables gpu (host, 2),
    qgpu (all.q, 1), lic and jlic (global, 1; jlic per job), all held by a running job."""
    complexes = dict(DEFAULT_COMPLEXES)
    for name, per in (("gpu", "YES"), ("qgpu", "YES"), ("lic", "YES"), ("jlic", "JOB")):
        complexes[name] = ComplexDef(name, name, "INT", "<=", True, per, "0", 0)
    snap = Snapshot(now=1000.0, complexes=complexes, global_values={"lic": "1", "jlic": "1"},
                    global_consumed={"lic": 1.0, "jlic": 1.0})
    values = {"gpu": "2"}
    if host_slots is not None:
        values["slots"] = host_slots
    snap.hosts["vm"] = HostSnap("vm", load={"np_load_avg": "0.10", "arch": "lx-amd64", "num_proc": "4"},
                                complex_values=values, consumed={"gpu": 2.0, "slots": 2.0})
    snap.queue_instances = [
        QueueInstanceSnap("all.q", "vm", slots=4, used_slots=2, pe_list=["make", "smp", "mpi"],
                          complex_values={**LIMITS, "qgpu": "1"}, consumed={"qgpu": 1.0}),
        QueueInstanceSnap("pzq.q", "vm", slots=1, complex_values=dict(LIMITS))]
    if p3:
        snap.queue_instances.append(QueueInstanceSnap("p3.q", "vm", slots=2, qtype={"INTERACTIVE"},
                                                      complex_values=dict(LIMITS)))
    snap.pes = {"smp": PeSnap("smp", 4, used_slots=4, allocation_rule="$pe_slots")}
    return snap


def waiting(snap: Snapshot, **job: object) -> tuple[list[str], Decision]:
    snap.jobs = [PendingJob(job_id=1, **job)]  # type: ignore[arg-type]
    decision = schedule(snap)
    assert not decision.dispatches
    return decision.waiting[1], decision


def test_a_host_consumable_used_up_is_named_at_its_host() -> None:
    assert waiting(cell(), hard_resources={"gpu": "1"})[0] == sge_lines("qstat_j_info_host_consumable")


def test_a_queue_consumable_is_named_in_its_queue_instance_and_an_undefined_one_too() -> None:
    assert waiting(cell(), hard_resources={"qgpu": "1"})[0] == sge_lines("qstat_j_info_queue_consumable")


def test_a_global_consumable_and_a_job_level_one_are_named_globally() -> None:
    assert waiting(cell(), hard_resources={"lic": "1"})[0] == sge_lines("qstat_j_info_global_consumable")
    reasons, _ = waiting(cell(p3=True), hard_resources={"jlic": "1"}, hard_queues=["all.q"])
    assert set(sge_lines("qstat_j_info_job_consumable")) <= set(reasons)


def test_a_load_value_is_named_at_its_host_after_the_whole_sorted_request_list() -> None:
    reasons, decision = waiting(cell(), hard_resources={"h_rt": "100", "arch": "foo"})
    assert reasons == sge_lines("qstat_j_info_load_value")
    assert decision.never[1].endswith(sge_lines("qstat_j_info_load_value")[0])


def test_unknown_resources_hard_queue_lists_and_pe_lists() -> None:
    reasons, _ = waiting(cell(), hard_resources={"qgpu": "1", "h_rt": "60"}, hard_queues=["pzq.q"])
    assert set(sge_lines("qstat_j_info_unknown_resource")[:2]) == set(reasons)  # SGE had p3.q too
    reasons, _ = waiting(cell(), pe=("smp", 4, 4))
    assert reasons == sge_lines("qstat_j_info_pe_list")


def test_a_queue_type_access_and_host_slots() -> None:
    reasons, _ = waiting(cell(p3=True), hard_queues=["p3.q"])
    assert sorted(reasons) == sorted(sge_lines("qstat_j_info_qtype"))
    snap = cell(p3=True)
    snap.queue_instances[2].qtype = {"BATCH", "INTERACTIVE"}
    snap.queue_instances[2].denied_owners = frozenset({"sgeuser"})
    reasons, _ = waiting(snap, owner="sgeuser", hard_queues=["p3.q"])
    assert sorted(reasons) == sorted(sge_lines("qstat_j_info_access"))
    reasons, _ = waiting(cell(host_slots="2"), hard_queues=["all.q"])
    assert reasons == sge_lines("qstat_j_info_host_slots")


def test_what_can_never_fit_is_named_with_the_capacity_as_qsub_w_v_says() -> None:
    snap = cell()
    snap.hosts["vm"].consumed = {}
    snap.global_consumed = {}
    _, decision = waiting(snap, hard_resources={"gpu": "3"})
    assert decision.never[1].endswith(sge_lines("qsub_w_v_host_consumable")[0])
    _, decision = waiting(snap, hard_resources={"lic": "2"})
    assert decision.never[1].endswith(sge_lines("qsub_w_v_global_consumable")[0])
