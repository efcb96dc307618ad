"""A request's cost against the length of the queue (issue 9, defect 10).

For each queue length, the master is given that many pending jobs (half of them held, the
other half waiting in a disabled queue, so none runs), then one client submits jobs one at a
time: held ones (``qsub -h``) and waiting ones (each asks for a scheduling pass). Printed per
queue length and kind: the client's p50/p99 latency and the master's CPU per submission
(from /proc, so other work on the machine does not count), then the same for ``qstat -j``.

    python bench/submit_cost.py [--sizes 0,1280,5120,10240] [--count 200]

qsys runs as a personal cluster in a temporary QSYS_ROOT (one exec host, its queue disabled).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.procstat import cpu_seconds  # noqa: E402
from qsys.client import Client  # noqa: E402
from qsys.jobspec import JobSpec  # noqa: E402
from tests.clusterlib import Cluster  # noqa: E402


def _spec(hold: bool) -> JobSpec:
    return JobSpec(command="/bin/true", binary=True, name="cost", stdout_paths=["/dev/null"], join=True,
                   hold=hold, submit_env={"WORKDIR": "/tmp"}, submit_cwd="/tmp")


def _measure(pid: int, count: int, request: Callable[[], object]) -> tuple[float, float, float]:
    """p50 and p99 latency (ms) and the master's CPU per request (ms) over ``count`` requests."""
    samples = []
    cpu = cpu_seconds(pid)
    for _ in range(count):
        began = time.perf_counter()
        request()
        samples.append(time.perf_counter() - began)
    cpu = cpu_seconds(pid) - cpu
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return statistics.median(samples) * 1000, p99 * 1000, cpu / count * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0,1280,5120,10240", help="queue lengths, comma-separated")
    parser.add_argument("--count", type=int, default=200, help="submissions measured per kind and size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    root = Path(tempfile.mkdtemp(prefix="qsys-cost-", dir="/tmp"))
    os.chmod(root, 0o755)
    rows = []
    try:
        with Cluster(root / "cell", hosts=["node1"], slots=4) as cluster:
            cluster.run("qmod", "-d", "all.q", check=True)
            assert cluster.master_proc is not None
            pid = int((cluster.cell.master_spool / "master.pid").read_text().split()[0])
            with Client(cluster.cell) as client:
                have = 0
                for size in sizes:
                    while have < size:  # the queue grows to ``size`` (measured jobs count too)
                        batch = min(1000, size - have)
                        client.submit_many([_spec(hold=i % 2 == 0) for i in range(batch)])
                        have += batch
                    for kind, hold in (("qsub -h", True), ("qsub", False)):
                        rows.append((size, kind, *_measure(pid, args.count, partial(client.submit, _spec(hold)))))
                        have += args.count
                    rows.append((size, "qstat -j", *_measure(pid, args.count, partial(client.job_details, ["1"]))))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"one client, {args.count} requests per row; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} after (other work on the machine shares them)")
    print(f"{'pending':>8} {'request':<9} {'p50 ms':>7} {'p99 ms':>7} {'master CPU ms':>14}")
    for size, kind, p50, p99, cpu in rows:
        print(f"{size:>8} {kind:<9} {p50:>7.2f} {p99:>7.2f} {cpu:>14.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
