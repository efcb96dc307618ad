"""The master under load: 50 clients at once, each on its own connection, for 60 s.

Each client loops over a mix of requests as fast as the master answers: 6 in 10 submit a
trivial job (``qsub``), 2 list the jobs (``qstat``), 1 shows one of its jobs (``qstat -j``),
1 deletes one of its pending jobs (``qdel``). Printed: p50/p99 latency per command, the jobs
that ran during the load (accounting records), the pending jobs left, how long they took to
drain once the load stopped, and the master's RSS (peak during the load).

    python bench/load.py [--quick] [--clients N] [--seconds S] [--slots N]

``--quick``: 15 s. qsys runs as a personal cluster in a temporary QSYS_ROOT (one exec host).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.procstat import cpu_seconds, rss_kb  # noqa: E402
from qsys.errors import QsysError  # noqa: E402
from qsys.jobspec import JobSpec  # noqa: E402
from tests.clusterlib import Cluster, wait_until  # noqa: E402

MIX = ["qsub"] * 6 + ["qstat"] * 2 + ["qstat -j", "qdel"]


def _spec(client_no: int) -> JobSpec:
    return JobSpec(command="/bin/true", binary=True, name=f"load{client_no}", stdout_paths=["/dev/null"],
                   join=True, submit_env={"WORKDIR": "/tmp"}, submit_cwd="/tmp")


def _passes(cluster: Cluster) -> tuple[int, float, int]:
    """The master's scheduling passes so far: how many, their seconds, the tasks they started."""
    with cluster.client() as client:
        metrics = client.master_metrics()
    passes = metrics.histogram("qsys_scheduling_pass_seconds")
    return passes.cumulative[-1], passes.sum, int(metrics.counter("qsys_dispatches_total"))


def _accounted(cluster: Cluster) -> int:
    path = cluster.cell.accounting_file
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if line and not line.startswith("#"))


class Load:
    def __init__(self, cluster: Cluster, clients: int, seconds: float) -> None:
        self.cluster = cluster
        self.clients = clients
        self.seconds = seconds
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def client(self, number: int) -> None:
        rng = random.Random(number)
        mine: list[int] = []
        with self.cluster.client() as client:
            while not self.stop.is_set():
                kind = rng.choice(MIX)
                started = time.perf_counter()
                try:
                    if kind == "qsub":
                        mine.append(client.submit(_spec(number))["job_id"])
                    elif kind == "qstat":
                        client.jobs(["*"], brief=True)
                    elif kind == "qstat -j":
                        client.job_details([str(mine[-1] if mine else 1)])
                    elif mine:
                        client.job_action("delete", [str(mine.pop(0))])
                    else:
                        continue
                except QsysError:
                    with self.lock:
                        self.errors[kind] += 1
                    continue
                elapsed = time.perf_counter() - started
                with self.lock:
                    self.latency[kind].append(elapsed)

    def run(self) -> dict[str, float]:
        master = self.cluster.master_proc
        assert master is not None
        before = _accounted(self.cluster)
        cpu_before, passes_before = cpu_seconds(master.pid), _passes(self.cluster)
        threads = [threading.Thread(target=self.client, args=(n,), daemon=True) for n in range(self.clients)]
        t0 = time.monotonic()
        for thread in threads:
            thread.start()
        peak = 0.0
        while time.monotonic() - t0 < self.seconds:
            peak = max(peak, rss_kb(master.pid) / 1024)
            time.sleep(0.5)
        ran = _accounted(self.cluster) - before
        cpu = cpu_seconds(master.pid) - cpu_before
        passes = [b - a for a, b in zip(passes_before, _passes(self.cluster), strict=True)]
        self.stop.set()
        for thread in threads:
            thread.join(60)
        pending = len(self.cluster.jobs())
        t1 = time.monotonic()
        wait_until(lambda: not self.cluster.jobs(), 1800, "the queue to drain")
        return {"ran": ran, "pending": pending, "drain": time.monotonic() - t1, "rss": peak,
                "rss_after": rss_kb(master.pid) / 1024, "cpu": cpu, "passes": passes[0], "pass_seconds": passes[1],
                "dispatched": passes[2]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="15 s instead of 60 s")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--slots", type=int, default=4)
    args = parser.parse_args()
    seconds = args.seconds or (15.0 if args.quick else 60.0)
    root = Path(tempfile.mkdtemp(prefix="qsys-load-", dir="/tmp"))
    os.chmod(root, 0o755)
    load_before = os.getloadavg()[0]
    try:
        with Cluster(root / "cell", hosts=["node1"], slots=args.slots) as cluster:
            load = Load(cluster, args.clients, seconds)
            figures = load.run()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{args.clients} clients for {seconds:.0f} s, one exec host with {args.slots} slots; "
          f"{os.cpu_count()} CPUs, load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
          "(other work on the machine shares them)")
    print(f"{'command':<10} {'count':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for kind in ("qsub", "qstat", "qstat -j", "qdel"):
        samples = sorted(load.latency.get(kind, []))
        if not samples:
            continue
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        print(f"{kind:<10} {len(samples):>7} {statistics.median(samples) * 1000:>8.1f} {p99 * 1000:>8.1f} "
              f"{load.errors.get(kind, 0):>7}")
    print(f"jobs run during the load: {figures['ran']:.0f}; pending at its end: {figures['pending']:.0f}, "
          f"drained in {figures['drain']:.1f} s")
    print(f"master RSS: peak {figures['rss']:.0f} MB during the load, {figures['rss_after']:.0f} MB after")
    print(f"master CPU during the load: {figures['cpu']:.1f} s of {seconds:.0f} s; {figures['passes']:.0f} passes "
          f"took {figures['pass_seconds']:.1f} s of it and started {figures['dispatched']:.0f} tasks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
