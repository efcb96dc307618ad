"""The master's memory with many pending jobs (issue 12: ≤ 2 KB per pending job above the
idle master, and given back after ``qdel``).

    python bench/memory.py [--jobs 5000,50000] [--distinct]

For each count: a new cell and its master as its own process (``qsys.master.main -f``, no exec
daemon: the jobs stay pending); its RSS idle (after a first qstat), with N jobs of
``qsub -h -b y /bin/true`` pending (submitted through ``qsys.client`` in bulks of 1,000, then
one ``qstat`` and one ``qstat -xml``, as a user polls), KB per job above idle, and RSS once a
``qdel -u '*'`` emptied it again. ``--distinct``: every job its own name (-N) and argument,
so the jobs share no spec (what a workflow tool submits).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.procstat import rss_kb  # noqa: E402
from qsys import protocol  # noqa: E402
from qsys.cli.options import parse_submit_args  # noqa: E402
from qsys.client import Client  # noqa: E402
from qsys.cluster import new_cell  # noqa: E402
from qsys.paths import Cell  # noqa: E402

BULK = 1000


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def settled_rss(pid: int) -> int:
    """RSS once it stopped moving (the master gives memory back a moment after a qdel)."""
    last, same = rss_kb(pid), 0
    deadline = time.monotonic() + 30
    while same < 15 and time.monotonic() < deadline:
        time.sleep(0.2)
        now = rss_kb(pid)
        same = same + 1 if abs(now - last) < 64 else 0
        last = now
    return last


def specs(first: int, count: int, distinct: bool) -> list:  # type: ignore[type-arg]
    if distinct:
        return [parse_submit_args(["-h", "-N", f"job{n}", "-b", "y", "/bin/true", str(n)], program="qsub")
                for n in range(first, first + count)]
    return [parse_submit_args(["-h", "-b", "y", "/bin/true"], program="qsub") for _ in range(count)]


def measure(jobs: int, distinct: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="qsys-bench-memory-") as tmp:
        cell = Cell(Path(tmp), "default")
        new_cell(cell, hosts=1, slots=4, port=0, store_url=None)
        env = dict(os.environ, QSYS_ROOT=str(cell.root), QSYS_CELL=cell.name, PYTHONPATH=str(REPO))
        log = (Path(tmp) / "master.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "qsys.master.main", "-f"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: cell.master_socket.exists(), 60, "the master's socket")
            with Client(cell, timeout=600) as client:
                query = protocol.JobsStatus(["*"], False, "", False, [], {})
                client.jobs(["*"])
                client.status_text(query, form="xml")
                idle = settled_rss(proc.pid)
                for first in range(0, jobs, BULK):
                    client.submit_many(specs(first, min(BULK, jobs - first), distinct))
                assert len(client.jobs(["*"])) == jobs
                client.status_text(query, form="xml")
                full = settled_rss(proc.pid)
                client.job_action("delete", ["*"], users=["*"])
                wait_for(lambda: not client.jobs(["*"]), 600, "every job gone")
                after = settled_rss(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    return {"idle": idle / 1024, "full": full / 1024, "per_job": (full - idle) / jobs, "after": after / 1024}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", default="5000,50000", help="pending job counts, comma separated")
    parser.add_argument("--distinct", action="store_true", help="every job its own name and argument")
    args = parser.parse_args()
    kind = "distinct" if args.distinct else "alike"
    print(f"{'jobs':>8} {'kind':>9} {'RSS idle':>10} {'RSS full':>10} {'KB/job':>8} {'after qdel':>11}")
    for jobs in [int(n) for n in args.jobs.split(",")]:
        f = measure(jobs, args.distinct)
        print(f"{jobs:>8} {kind:>9} {f['idle']:>7.1f} MB {f['full']:>7.1f} MB {f['per_job']:>8.2f} "
              f"{f['after']:>8.1f} MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
