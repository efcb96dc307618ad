"""Pass time of the pure scheduler with and without the scheduling policies.

A synthetic cluster (hosts x slots, half of the slots busy with running jobs of known h_rt)
and a queue of pending jobs from many users, some parallel, some with -R y, some asking for
GPUs (a plain count without policies, device ids with them); "all policies" adds a share tree and functional shares (tickets), a per-user resource
quota, reservations (max_reservation 10) and two advance reservations. Each pass is given a
memo filled by a pass before it and runs without cycle collection, as the master's passes do
(qsys/master/dispatch.py); the figure is the median CPU time of ``--repeat`` passes, each
case in a process of its own (a snapshot built after another one in the same process passes
about 0.09 s slower at 100k pending, whichever it is). Prints, per size, both pass times and their ratio (issue 13's target:
at most 1.5), then what each policy alone costs at the largest size:

    /opt/qsys/venv/bin/python bench/sched_policies.py [--pending 10000 100000] [--hosts 1000] [--quick]

``--quick`` (2,000 pending jobs on 100 hosts) is the size CI runs.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qsys.master.collector import paused  # noqa: E402
from qsys.objects import parse_quota_sets  # noqa: E402
from qsys.objects.sharetree import ShareNode  # noqa: E402
from qsys.sched import (  # noqa: E402
    DEFAULT_COMPLEXES,
    HostSnap,
    Memo,
    PendingJob,
    PeSnap,
    QueueInstanceSnap,
    Snapshot,
    schedule,
)
from qsys.sched.snapshot import (  # noqa: E402
    AdvanceReservationSnap,
    Assignment,
    ComplexDef,
    ObjectShares,
    RunningJob,
    TicketConfig,
)

USERS = 200
NOW = 1_000_000.0


def build(pending: int, hosts: int, slots: int, policies: bool, seed: int = 1) -> Snapshot:
    rnd = random.Random(seed)
    complexes = dict(DEFAULT_COMPLEXES)
    # device ids with the policies; without them the same GPUs are a plain count
    complexes["gpu"] = ComplexDef("gpu", "gpu", "RSMAP" if policies else "INT", "<=", True, "YES", "0", 0)
    snap = Snapshot(now=NOW, complexes=complexes)
    job_id = 10_000_000
    for h in range(hosts):
        name = f"node{h:05d}"
        values = ({"gpu": "4(0 1 2 3)" if policies else "4"}) if h % 10 == 0 else {}
        snap.hosts[name] = HostSnap(name, load={"np_load_avg": f"{rnd.random():.2f}", "arch": "lx-amd64",
                                                "num_proc": str(slots), "mem_free": "64G"}, complex_values=values)
        busy = slots // 2
        snap.queue_instances.append(QueueInstanceSnap(
            "all.q", name, slots=slots, used_slots=busy, pe_list=["smp", "mpi"],
            complex_values={"h_rt": "INFINITY", "s_rt": "INFINITY", "h_vmem": "INFINITY"}))
        for _ in range(busy):
            job_id += 1
            snap.running.append(RunningJob(job_id=job_id, owner=f"user{rnd.randrange(USERS)}",
                                           assignments=[Assignment("all.q", name, 1)],
                                           start_time=NOW - rnd.randrange(3600), runtime=rnd.choice([3600.0, 7200.0])))
    snap.pes = {"smp": PeSnap("smp", 10**6, allocation_rule="$pe_slots"),
                "mpi": PeSnap("mpi", 10**6, allocation_rule="$fill_up")}
    for n in range(pending):
        kind = rnd.random()
        resources = {"h_rt": str(rnd.choice([600, 3600, 7200]))} if rnd.random() < 0.7 else {}
        extra: dict[str, object] = {}
        if kind < 0.05:
            extra["pe"] = ("smp", 4, 4)
        elif kind < 0.06:
            extra["pe"] = ("mpi", 32, 32)
            extra["reserve"] = True
        elif kind < 0.08:
            resources["gpu"] = "1"
        snap.jobs.append(PendingJob(job_id=n + 1, submit_time=float(n), owner=f"user{n % USERS}",
                                    project=f"proj{n % 7}" if n % 3 == 0 else None, hard_resources=resources,
                                    urgency=float(rnd.randrange(1000)), **extra))  # type: ignore[arg-type]
    if not policies:
        snap.running = []  # the policies' input only
        return snap
    snap.max_reservation = 10
    snap.quotas = parse_quota_sets("{\n name peruser\n enabled TRUE\n limit users {*} to slots=40\n}\n")
    snap.advance_reservations = [
        AdvanceReservationSnap(1, NOW - 60, NOW + 3600, [Assignment("all.q", "node00001", 2)]),
        AdvanceReservationSnap(2, NOW + 1800, NOW + 7200, [Assignment("all.q", "node00002", 4)])]
    tree = ShareNode("Root", 1, children=[ShareNode(f"proj{p}", 10 + p, 1, [ShareNode("default", 1)]) for p in range(7)]
                     + [ShareNode("default", 5)])
    snap.tickets = TicketConfig(
        weight_tickets_share=10000, weight_tickets_functional=10000, share_tree=tree,
        users={f"user{u}": ObjectShares(fshare=1 + u % 10, oticket=100 if u < 5 else 0) for u in range(USERS)},
        projects={f"proj{p}": ObjectShares(fshare=10) for p in range(7)},
        usage={(f"user{u}", None): {"cpu": float(u * 100)} for u in range(USERS)})
    return snap


def timed(snap: Snapshot, repeat: int) -> tuple[float, int, int]:
    """The median CPU seconds of ``repeat`` passes after one that fills the memo, and what
    the last one started and reserved."""
    memo = Memo()
    decision = schedule(snap, memo)
    times = []
    for _ in range(repeat):
        start = time.process_time()
        with paused():
            decision = schedule(snap, memo)
        times.append(time.process_time() - start)
    return statistics.median(times), len(decision.dispatches), len(decision.reservations)


def only(snap: Snapshot, policy: str) -> Snapshot:
    """``snap`` (with all policies) keeping just one of them on."""
    out = copy.copy(snap)
    if policy != "tickets":
        out.tickets = None
    if policy != "quotas":
        out.quotas = []
    if policy != "reservation":
        out.max_reservation = 0
    if policy != "advance reservations":
        out.advance_reservations = []
    if policy != "devices":
        out.complexes = {**snap.complexes, "gpu": dataclasses.replace(snap.complexes["gpu"], type="INT")}
        out.hosts = {name: dataclasses.replace(host, complex_values={k: v.split("(")[0] for k, v in
                                                                     host.complex_values.items()})
                     for name, host in snap.hosts.items()}
    return out


POLICIES = ("tickets", "quotas", "reservation", "advance reservations", "devices")


def measured(pending: int, hosts: int, slots: int, repeat: int, case: str) -> tuple[float, int, int]:
    """:func:`timed` of one case (``plain``, ``all`` or a policy alone) in a new process."""
    argv = [sys.executable, __file__, "--case", case, "--pending", str(pending), "--hosts", str(hosts),
            "--slots", str(slots), "--repeat", str(repeat)]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1]), int(out[2])


def one_case(pending: int, hosts: int, slots: int, repeat: int, case: str) -> None:
    if case == "plain":
        snap = build(pending, hosts, slots, policies=False)
    else:
        snap = build(pending, hosts, slots, policies=True)
        snap = snap if case == "all" else only(snap, case)
    print(*timed(snap, repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)  # one case, in the process measuring it
    parser.add_argument("--pending", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2,000 pending jobs on 100 hosts (CI)")
    args = parser.parse_args()
    if args.quick:
        args.pending, args.hosts = [2000], 100
    if args.case:
        one_case(args.pending[-1], args.hosts, args.slots, args.repeat, args.case)
        return
    print(f"{args.hosts} hosts x {args.slots} slots, half busy; median CPU s of {args.repeat} passes with a memo")
    print(f"{'pending':>8} {'no policies':>12} {'all policies':>13} {'ratio':>6} {'started':>8} {'reserved':>9}")
    plain = 0.0
    for pending in args.pending:
        plain, _, _ = measured(pending, args.hosts, args.slots, args.repeat, "plain")
        full, started, reserved = measured(pending, args.hosts, args.slots, args.repeat, "all")
        print(f"{pending:>8} {plain:>11.3f}s {full:>12.3f}s {full / plain:>6.2f} {started:>8} {reserved:>9}",
              flush=True)
    print(f"each policy alone at {args.pending[-1]} pending (ratio to no policies):")
    for policy in POLICIES:
        alone, _, _ = measured(args.pending[-1], args.hosts, args.slots, args.repeat, policy)
        print(f"  {policy:<21} {alone:>7.3f}s {alone / plain:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
