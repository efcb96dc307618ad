"""Pass time of the pure scheduler on the scale benchmark's job mix, as it grows.

bench/scale.py measures a pass inside a real master (with the snapshot and the commit around
it); this measures the scheduler alone, quickly, at every size, so that a change to
``qsys.sched`` can be judged in seconds. Two passes per size, as the master sees them:

* **first**: every slot free (``qmod -e all.q`` on a full queue): the pass fills the cluster;
* **steady**: the cluster full but for one free slot in 50 hosts (jobs ending between passes),
  a pass after an earlier one in the same configuration (the master keeps its memo).

    /opt/qsys/venv/bin/python bench/sched_pass.py [--sizes 100x10000,1000x100000] [--code DIR]

``--code DIR`` times another checkout's scheduler (e.g. main's) on the same snapshots.
"""

from __future__ import annotations

import argparse
import inspect
import random
import sys
import time
from pathlib import Path
from typing import Any

SIZES = "100x10000,1000x10000,100x100000,1000x100000"
SLOTS = 16
USERS = 50
H_RT = [f"{h}:00:00" for h in range(1, 11)]
H_VMEM = [f"{g}G" for g in range(1, 21)]  # x H_RT: 200 categories of -l


def build(sched: Any, hosts: int, tasks: int, busy: int, seed: int = 1) -> Any:
    """A snapshot like the scale benchmark's: ``hosts`` x 16 slots (``busy`` of them used on
    each host), pending jobs until ``tasks`` tasks (the mix of bench/scale.py)."""
    rng = random.Random(seed)
    snap = sched.Snapshot(now=1_000_000.0, complexes=dict(sched.DEFAULT_COMPLEXES))
    for h in range(hosts):
        name = f"sim{h:04d}"
        snap.hosts[name] = sched.HostSnap(name, load={"np_load_avg": f"{rng.random() / 4:.2f}", "arch": "lx-amd64",
                                                      "num_proc": str(SLOTS), "mem_free": "64G"})
        snap.queue_instances.append(sched.QueueInstanceSnap(
            "all.q", name, slots=SLOTS, used_slots=busy, pe_list=["make", "smp", "mpi"],
            load_thresholds={"np_load_avg": "1.75"}, qtype={"BATCH", "INTERACTIVE"},
            complex_values=dict.fromkeys(("h_rt", "s_rt", "h_cpu", "s_cpu", "h_vmem", "s_vmem"), "INFINITY")))
    snap.pes = {"make": sched.PeSnap("make", 999, allocation_rule="$round_robin"),
                "smp": sched.PeSnap("smp", 10**6, allocation_rule="$pe_slots"),
                "mpi": sched.PeSnap("mpi", 10**6, allocation_rule="$fill_up")}
    weights = [1.0 / (rank + 1) for rank in range(len(H_RT) * len(H_VMEM))]
    count, job_id = 0, 0
    while count < tasks:
        job_id += 1
        category = rng.choices(range(len(weights)), weights)[0]
        job = sched.PendingJob(job_id=job_id, submit_time=float(job_id), owner=f"user{rng.randrange(USERS):02d}",
                               hard_resources={"h_rt": H_RT[category % len(H_RT)],
                                               "h_vmem": H_VMEM[category // len(H_RT)]})
        kind = rng.random()
        if kind < 0.05 and tasks - count > 200:
            job.task_ids = list(range(1, rng.randint(10, 200) + 1))
        elif kind < 0.08:
            job.pe = ("smp", rng.randint(2, 8), 8)
        elif kind < 0.09:
            slots = rng.randint(16, 48)
            job.pe = ("mpi", slots, slots)
        job.held = rng.random() < 0.02
        if rng.random() < 0.03 and job_id > 1:
            job.waiting_on = [rng.randrange(1, job_id)]
        if rng.random() < 0.1:
            job.priority = -rng.randint(1, 100)
        snap.jobs.append(job)
        count += len(job.task_ids)
    return snap


def timed(sched: Any, snap: Any, memo: Any) -> tuple[float, int]:
    """CPU seconds of one pass, and how many tasks it started."""
    start = time.process_time()
    decision = sched.schedule(snap, memo) if memo is not None else sched.schedule(snap)
    return time.process_time() - start, len(decision.dispatches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=SIZES, help=f"HOSTSxTASKS,... (default {SIZES})")
    parser.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the checkout whose qsys.sched is timed (default: this one)")
    args = parser.parse_args()
    sys.path.insert(0, str(args.code))
    import qsys.sched as sched  # noqa: PLC0415 (the checkout is chosen at run time)

    memo_type = getattr(sched, "Memo", None)
    takes_memo = memo_type is not None and "memo" in inspect.signature(sched.schedule).parameters
    print(f"qsys.sched from {Path(sched.__file__).parent}; CPU s of one pass")
    print(f"{'hosts':>6} {'tasks':>7} {'first':>8} {'started':>8} {'steady':>8} {'started':>8}")
    for size in args.sizes.split(","):
        hosts, tasks = (int(part) for part in size.split("x"))
        first, started = timed(sched, build(sched, hosts, tasks, busy=0), memo_type() if takes_memo else None)
        steady_snap = build(sched, hosts, tasks, busy=SLOTS)
        for i in range(0, hosts, 50):
            steady_snap.queue_instances[i].used_slots = SLOTS - 1
        memo = memo_type() if takes_memo else None
        timed(sched, steady_snap, memo)  # the pass before: fills the memo
        steady, started_steady = timed(sched, steady_snap, memo)
        print(f"{hosts:>6} {tasks:>7} {first:>7.3f}s {started:>8} {steady:>7.3f}s {started_steady:>8}", flush=True)


if __name__ == "__main__":
    main()
