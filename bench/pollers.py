"""Status reads off the scheduler's path: the drain of trivial jobs with and without clients
polling ``qstat -xml``.

    python bench/pollers.py [--jobs 500] [--pollers 20] [--interval 0.1] [--rounds 3] [--keep] [--quick]

qsys runs as a personal cluster in a temporary QSYS_ROOT (one exec host, 4 slots, real
processes), as in bench/run.py. A drain is the release of ``--jobs`` held ``/bin/true`` jobs
until the master has accounted all of them (its ``qsys_finishes_total``: a status read would
be one more poller). A poller is a thread that every ``--interval`` seconds does on the wire
what one ``qstat -xml`` does: connect, hello, the StatusText request, the whole reply, close
(no interpreter start: 20 pollers of ten commands a second would need more than two cores
for the interpreters alone); with ``--keep`` each poller keeps its connection, as a library
client (DRMAA, qsys-restd) does. Drains with and without pollers alternate; the table shows
their medians, the ratio and what the pollers got (polls, their median time).
"""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.procstat import cpu_seconds  # noqa: E402
from qsys import protocol  # noqa: E402
from qsys.client import Client  # noqa: E402
from qsys.jobspec import JobSpec  # noqa: E402
from tests.clusterlib import Cluster, wait_until  # noqa: E402


class Pollers:
    """``count`` threads, each polling as ``qstat -xml`` every ``interval`` seconds."""

    def __init__(self, cluster: Cluster, count: int, interval: float, keep: bool = False) -> None:
        self.cluster = cluster
        self.keep = keep  # one connection per poller (a library client) instead of one per poll
        self.count = count
        self.interval = interval
        self.stop = threading.Event()
        self.times: list[float] = []
        self.errors: list[str] = []
        self.rows = not hasattr(Client, "status_text")  # a qsys older than StatusText
        self._threads = [threading.Thread(target=self._poll, args=(i,), daemon=True) for i in range(count)]

    def __enter__(self) -> Pollers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(30)

    def _ask(self, client: Client, query: protocol.JobsStatus) -> object:
        """What qstat -xml asks (a qsys without StatusText: the rows, made into the text here, as
        its qstat did: to measure the code before)."""
        if not self.rows:
            return client.status_text(query, form="xml")
        from qsys.cli import xmlout

        return xmlout.qstat_xml(client.jobs(query.users))

    def _poll(self, index: int) -> None:
        query = protocol.JobsStatus([getpass.getuser()])
        self.stop.wait(self.interval * index / self.count)  # spread over the interval
        kept = self.cluster.client() if self.keep else None
        while not self.stop.is_set():
            began = time.perf_counter()
            try:
                if kept is not None:
                    reply = self._ask(kept, query)
                else:
                    with self.cluster.client() as client:
                        reply = self._ask(client, query)
                if not isinstance(reply, str):
                    self.errors.append("the master sent rows (another time zone?)")
            except Exception as exc:  # a poll that failed is counted, not fatal
                self.errors.append(str(exc))
            took = time.perf_counter() - began
            self.times.append(took)
            self.stop.wait(max(0.0, self.interval - took))
        if kept is not None:
            kept.close()


def finishes(cluster: Cluster) -> float:
    with cluster.client() as client:
        return client.master_metrics().counter("qsys_finishes_total")


class Drain:
    """One drain's figures: its seconds, the master's CPU seconds, this process's (the
    pollers'), and the status replies the master made anew and served again."""

    def __init__(self, cluster: Cluster, n: int) -> None:
        assert cluster.master_proc is not None
        pid = cluster.master_proc.pid
        with cluster.client() as client:
            before = client.master_metrics()
        master, own = cpu_seconds(pid), time.process_time()
        self.seconds = drain(cluster, n)
        self.master_cpu, self.own_cpu = cpu_seconds(pid) - master, time.process_time() - own
        with cluster.client() as client:
            after = client.master_metrics()
        self.made = after.counter("qsys_status_replies_made_total") - before.counter("qsys_status_replies_made_total")
        self.reused = (after.counter("qsys_status_replies_reused_total")
                       - before.counter("qsys_status_replies_reused_total"))


def drain(cluster: Cluster, n: int) -> float:
    """Seconds from the release of ``n`` held jobs until the master accounted them all."""
    spec = JobSpec(command="/bin/true", binary=True, name="drain", stdout_paths=["/dev/null"], join=True,
                   hold=True, submit_env={"WORKDIR": "/tmp"}, submit_cwd="/tmp")
    with cluster.client() as client:
        ids = [s.job_id for s in client.submit_many([spec] * n)]
        done = client.master_metrics().counter("qsys_finishes_total")
        began = time.perf_counter()
        client.job_action("release", [str(i) for i in ids])
    wait_until(lambda: finishes(cluster) >= done + n, 3600, "the drain", interval=0.02)
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--pollers", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between one poller's polls")
    parser.add_argument("--rounds", type=int, default=3, help="drains of each kind (they alternate)")
    parser.add_argument("--keep", action="store_true",
                        help="each poller keeps one connection (as a library client does), not one per poll")
    parser.add_argument("--quick", action="store_true", help="100 jobs, one round (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.rounds = 100, 1
    root = Path(tempfile.mkdtemp(prefix="qsys-bench-", dir="/tmp"))
    os.chmod(root, 0o755)
    quiet: list[Drain] = []
    polled: list[Drain] = []
    poll_times: list[float] = []
    errors: list[str] = []
    try:
        with Cluster(root / "cell", hosts=["node1"], slots=4) as cluster:
            drain(cluster, min(args.jobs, 50))  # warm up: forkserver, caches
            for _ in range(args.rounds):
                quiet.append(Drain(cluster, args.jobs))
                with Pollers(cluster, args.pollers, args.interval, args.keep) as pollers:
                    polled.append(Drain(cluster, args.jobs))
                poll_times += pollers.times
                errors += pollers.errors
    finally:
        shutil.rmtree(root, ignore_errors=True)
    alone, busy = statistics.median(d.seconds for d in quiet), statistics.median(d.seconds for d in polled)
    rate = len(poll_times) / sum(d.seconds for d in polled) if polled else 0.0
    how = "one connection each" if args.keep else "a connection per poll, as the command"
    print(f"drain of {args.jobs} /bin/true jobs on 4 slots, median of {args.rounds}; pollers: {how} "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    for label, runs, took in (("without pollers", quiet, alone), (f"with {args.pollers} qstat -xml pollers", polled, busy)):
        print(f"  {label:<28}{took:6.2f} s ({args.jobs / took:.0f} jobs/s); CPU s: master "
              f"{statistics.median(d.master_cpu for d in runs):.2f}, pollers {statistics.median(d.own_cpu for d in runs):.2f}; "
              f"status replies made {statistics.median(d.made for d in runs):.0f}, "
              f"reused {statistics.median(d.reused for d in runs):.0f}")
    print(f"  {'ratio':<28}{busy / alone:6.3f} (slower by {(busy / alone - 1) * 100:+.1f} %)")
    if poll_times:
        print(f"  {'polls':<28}{len(poll_times)} ({rate:.0f}/s), median "
              f"{statistics.median(poll_times) * 1000:.1f} ms, {len(errors)} failed")
    for error in sorted(set(errors))[:5]:
        print(f"    {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
