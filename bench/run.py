"""Benchmarks of qsys, side by side with Son of Grid Engine when it is installed.

Prints one table: one qsub's wall time, 500 sequential qsubs, the drain of 500 trivial jobs
on 4 slots, submit-to-start latency on an idle cluster, qstat and qstat -xml with 5,000
pending jobs (five in a row, and for qsys each after a write, "cold": see
bench_qstat_pending), the master's RSS with 5,000 pending jobs, and a bulk submission
through ``qsys.client``. SGE is measured twice: with its default scheduler, and tuned as
issue 12 asks (``schedule_interval 0:0:1``, ``flush_submit_sec 1``, ``flush_finish_sec 1``:
only latency and drain depend on it), and each of its figures is followed by its ratio to
qsys's ("x3.2": qsys is 3.2 times better, faster or smaller; below 1, qsys is worse).

    python bench/run.py [--quick] [--no-sge] [--only qsub,latency,drain,qstat,bulk]

qsys runs as a personal cluster in a temporary QSYS_ROOT (one exec host, 4 slots). SGE runs
as a single-host cell of Debian's gridengine packages (queue all.q with 4 slots), as user sgeuser.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.procstat import rss_kb  # noqa: E402
from tests.clusterlib import Cluster, wait_until  # noqa: E402

BIN = Path(sys.executable).parent
SGE_ENV = {"SGE_ROOT": "/var/lib/gridengine", "SGE_CELL": "default"}
SGE_ACCOUNTING = Path("/var/lib/gridengine/default/common/accounting")


def with_bytecode(env: dict[str, str], pycache: Path) -> dict[str, str]:
    """``env`` with a bytecode cache, as an installed qsys has: a command started with
    PYTHONDONTWRITEBYTECODE from a source tree without __pycache__ compiles every module it
    imports on every run (40 ms more for a qsub), which no user pays."""
    env = dict(env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms"


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class QsysTarget:
    name = "qsys"

    def __init__(self, root: Path) -> None:
        self.cluster = Cluster(root / "cell", hosts=["node1"], slots=4)
        self.pycache = root / "pycache"

    def __enter__(self) -> QsysTarget:
        self.cluster.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cluster.__exit__(*exc)

    def cmd(self, *argv: str) -> list[str]:
        return [str(BIN / argv[0]), *argv[1:]]

    @property
    def env(self) -> dict[str, str]:
        return with_bytecode(self.cluster.env, self.pycache)

    def pending_count(self) -> int:
        return len(self.cluster.jobs())

    def idle(self) -> bool:
        return not self.cluster.jobs()

    def master_rss_kb(self) -> int | None:
        proc = self.cluster.master_proc
        return _rss(proc.pid) if proc else None

    def delete_all(self) -> None:
        subprocess.run(self.cmd("qdel", "-u", "*"), env=self.env, capture_output=True)
        wait_until(self.idle, 120, "the cluster to empty")


class SgeTarget:
    name = "SGE 8.1.9"

    def __enter__(self) -> SgeTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete_all()

    @staticmethod
    def available() -> bool:
        return shutil.which("qsub", path="/usr/bin") is not None and Path("/var/lib/gridengine/default").exists()

    def cmd(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "sgeuser", "--", "env", *[f"{k}={v}" for k, v in SGE_ENV.items()],
                f"/usr/bin/{argv[0]}", *argv[1:]]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **SGE_ENV}

    def _qstat_lines(self) -> list[str]:
        out = subprocess.run(self.cmd("qstat", "-u", "*"), capture_output=True, text=True).stdout
        return [line for line in out.splitlines()[2:] if line.strip()]

    def idle(self) -> bool:
        return not self._qstat_lines()

    def master_rss_kb(self) -> int | None:
        try:
            pid = int(Path("/var/spool/gridengine/qmaster/qmaster.pid").read_text())
        except OSError:
            return None
        return _rss(pid)

    def delete_all(self) -> None:
        subprocess.run(self.cmd("qdel", "-u", "sgeuser"), capture_output=True)
        wait_until(self.idle, 300, "SGE to empty")


class SgeTunedTarget(SgeTarget):
    """SGE with a scheduler that runs every second and on each submit and end; its own
    configuration is put back afterwards."""

    name = "SGE 8.1.9 tuned"
    TUNED = {"schedule_interval": "0:0:1", "flush_submit_sec": "1", "flush_finish_sec": "1"}

    def __enter__(self) -> SgeTunedTarget:
        self.saved = subprocess.run(self.cmd("qconf", "-ssconf"), capture_output=True, text=True, check=True).stdout
        lines = [f"{key:<33} {self.TUNED[key]}" if (key := line.split(maxsplit=1)[0] if line.strip() else "")
                 in self.TUNED else line for line in self.saved.splitlines()]
        self._load("\n".join(lines) + "\n")
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            super().__exit__(*exc)
        finally:
            self._load(self.saved)

    def _load(self, text: str) -> None:
        with tempfile.NamedTemporaryFile("w", prefix="qsys-bench-sconf-", dir="/tmp", delete=False) as f:
            f.write(text)
        try:
            os.chmod(f.name, 0o644)
            subprocess.run(self.cmd("qconf", "-Msconf", f.name), capture_output=True, check=True)
        finally:
            os.unlink(f.name)


def ratio(figure: str, qsys: str, other: str) -> str:
    """How many times better qsys's figure is than ``other`` ("" when either is missing):
    rates (``/s``) are better higher, times and sizes lower."""
    def first_number(text: str) -> float | None:
        head = text.split()[0] if text.strip() else ""
        try:
            return float(head)
        except ValueError:
            return None

    mine, theirs = first_number(qsys), first_number(other)
    if not mine or not theirs:
        return ""
    higher_is_better = "jobs/s" in figure or "jobs/s" in qsys.split("(")[0]
    return f" x{(mine / theirs if higher_is_better else theirs / mine):.1f}"


def _rss(pid: int) -> int | None:
    try:
        return rss_kb(pid) or None
    except OSError:
        return None


def bench_one_qsub(t: QsysTarget | SgeTarget, n: int) -> str:
    subprocess.run(t.cmd("qsub", "-h", "-b", "y", "/bin/true"), env=t.env, capture_output=True, check=True)
    samples = []  # after one run that filled the caches (bytecode, the store)
    for _ in range(n):
        samples.append(timed(lambda: subprocess.run(t.cmd("qsub", "-h", "-b", "y", "/bin/true"), env=t.env,
                                                      capture_output=True, check=True)))
    t.delete_all()
    return median_ms(samples)


def bench_sequential(t: QsysTarget | SgeTarget, n: int) -> str:
    def run() -> None:
        for _ in range(n):
            subprocess.run(t.cmd("qsub", "-h", "-b", "y", "/bin/true"), env=t.env, capture_output=True, check=True)

    took = timed(run)
    t.delete_all()
    return f"{took:.2f} s ({n / took:.0f}/s)"


def bench_drain(t: QsysTarget | SgeTarget, n: int) -> str:
    script = "\n".join(["#!/bin/sh", *["qsub -b y -o /dev/null -j y /bin/true" for _ in range(n)]])
    before = accounted(t)
    if isinstance(t, QsysTarget):
        from qsys.jobspec import JobSpec

        spec = JobSpec(command="/bin/true", binary=True, name="drain", stdout_paths=["/dev/null"], join=True,
                       hold=True, submit_env={"WORKDIR": "/tmp"}, submit_cwd="/tmp")
        with t.cluster.client() as client:
            ids = [r["job_id"] for r in client.submit_many([spec] * n)]
        t0 = time.perf_counter()
        subprocess.run(t.cmd("qrls", *map(str, ids)), env=t.env, capture_output=True, check=True)
    else:
        subprocess.run(["runuser", "-u", "sgeuser", "--", "sh", "-c", script.replace("qsub ", "/usr/bin/qsub -h ")],
                       env=t.env, capture_output=True)
        t0 = time.perf_counter()
        subprocess.run(t.cmd("qrls", "-u", "sgeuser"), capture_output=True)
    # the end of the drain is read from the accounting file (a line per job, written when it
    # ended): polling qstat with hundreds of jobs would cost the master a good part of what
    # the drain is measuring; one qstat at the end says the queue is empty
    if isinstance(t, QsysTarget) or SGE_ACCOUNTING.exists():
        wait_until(lambda: accounted(t) >= before + n, 3600, "the drain", interval=0.02)
    wait_until(t.idle, 3600, "the drain", interval=0.02)
    took = time.perf_counter() - t0
    return f"{n / took:.1f}"


def accounted(t: QsysTarget | SgeTarget) -> int:
    """Records in the target's accounting file."""
    path = t.cluster.cell.accounting_file if isinstance(t, QsysTarget) else SGE_ACCOUNTING
    try:
        return sum(1 for line in path.read_bytes().splitlines() if line and not line.startswith(b"#"))
    except OSError:
        return 0


def bench_latency(t: QsysTarget | SgeTarget, n: int) -> str:
    samples = []
    stamp = Path(tempfile.mkdtemp(prefix="qsys-bench-", dir="/tmp"))
    os.chmod(stamp, 0o777)
    for i in range(n):
        out = stamp / f"start{i}"
        script = stamp / f"job{i}.sh"  # a script: SGE's -b y would lose the quoting of sh -c '...'
        script.write_text(f"#!/bin/sh\ndate +%s.%N > {out}\n")
        script.chmod(0o755)
        t0 = time.time()
        subprocess.run(t.cmd("qsub", "-o", "/dev/null", "-j", "y", str(script)), env=t.env, capture_output=True,
                       check=True)
        wait_until(lambda out=out: out.exists() and out.read_text().strip(), 60, "the job to start", interval=0.002)
        samples.append(float(out.read_text()) - t0)
    wait_until(t.idle, 60, "idle")
    shutil.rmtree(stamp, ignore_errors=True)
    return median_ms(samples)


def bench_client_latency(t: QsysTarget, n: int) -> str:
    """Submit -> start through one open ``qsys.client`` connection (no command start-up)."""
    from qsys.jobspec import JobSpec

    samples = []
    stamp = Path(tempfile.mkdtemp(prefix="qsys-bench-", dir="/tmp"))
    os.chmod(stamp, 0o777)
    with t.cluster.client() as client:
        for i in range(n):
            out = stamp / f"start{i}"
            spec = JobSpec(command="/bin/sh", args=["-c", f"date +%s.%N > {out}"], binary=True, name="lat",
                           stdout_paths=["/dev/null"], join=True, submit_env={"WORKDIR": "/tmp"}, submit_cwd="/tmp")
            t0 = time.time()
            client.submit(spec)
            wait_until(lambda out=out: out.exists() and out.read_text().strip(), 60, "the job to start",
                       interval=0.001)
            samples.append(float(out.read_text()) - t0)
    wait_until(t.idle, 60, "idle")
    shutil.rmtree(stamp, ignore_errors=True)
    return median_ms(samples)


def bench_qstat_pending(t: QsysTarget | SgeTarget, n: int) -> dict[str, str]:
    """qstat and qstat -xml with ``n`` pending jobs: the median of 5 in a row (qsys: its master
    serves them from the status cache after the first), and for qsys "cold": each after a
    write (a qrls of an unknown job), so the master makes every reply anew."""
    if isinstance(t, QsysTarget):
        from qsys.jobspec import JobSpec

        spec = JobSpec(command="/bin/true", binary=True, name="pend", hold=True, submit_env={"WORKDIR": "/tmp"},
                       submit_cwd="/tmp")
        with t.cluster.client() as client:
            for _ in range(n // 1000):
                client.submit_many([spec] * 1000)
    else:
        script = f"for i in $(seq {n}); do /usr/bin/qsub -h -b y /bin/true >/dev/null; done"
        subprocess.run(["runuser", "-u", "sgeuser", "--", "env", *[f"{k}={v}" for k, v in SGE_ENV.items()],
                        "sh", "-c", script], capture_output=True)
    out = {}
    for label, argv in ((f"qstat, {n} pending", ["qstat"]), (f"qstat -xml, {n} pending", ["qstat", "-xml"])):
        out[label] = median_ms([timed(lambda argv=argv: subprocess.run(t.cmd(*argv), env=t.env, capture_output=True))
                                for _ in range(5)])
        if isinstance(t, QsysTarget):
            samples = []
            for _ in range(5):
                with t.cluster.client() as client:
                    client.job_action("release", ["999999999"])  # a write: the cache's replies are old now
                samples.append(timed(lambda argv=argv: subprocess.run(t.cmd(*argv), env=t.env, capture_output=True)))
            out[label + " (cold)"] = median_ms(samples)
    rss = t.master_rss_kb()
    t.delete_all()
    out[f"master RSS, {n} pending"] = f"{rss / 1024:.1f} MB" if rss else "n/a"
    return out


def bench_bulk(t: QsysTarget, n: int) -> str:
    from qsys.jobspec import JobSpec

    spec = JobSpec(command="/bin/true", binary=True, name="bulk", hold=True, submit_env={"WORKDIR": "/tmp"},
                   submit_cwd="/tmp")
    with t.cluster.client() as client:
        took = timed(lambda: client.submit_many([spec] * n))
    t.delete_all()
    return f"{n / took:.0f} jobs/s ({n} in {took * 1000:.0f} ms)"


PARTS = ("qsub", "latency", "drain", "qstat", "bulk")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller counts (a smoke run)")
    parser.add_argument("--no-sge", action="store_true")
    parser.add_argument("--sge-drain", type=int, default=40,
                        help="jobs in SGE's drain (its default scheduler runs every 15 s: 500 take half an hour)")
    parser.add_argument("--sge-tuned-drain", type=int, default=200,
                        help="jobs in the tuned SGE's drain (a few jobs a second)")
    parser.add_argument("--only", default="", help=f"these parts only, comma-separated ({', '.join(PARTS)})")
    args = parser.parse_args()
    chosen = set(filter(None, args.only.split(",")))
    if chosen - set(PARTS):
        parser.error(f"--only: no part {', '.join(sorted(chosen - set(PARTS)))} (parts: {', '.join(PARTS)})")

    def wanted(part: str) -> bool:
        return not chosen or part in chosen

    scale = 10 if args.quick else 1
    rows: dict[str, dict[str, str]] = {}
    root = Path(tempfile.mkdtemp(prefix="qsys-bench-", dir="/tmp"))
    os.chmod(root, 0o755)
    targets: list[QsysTarget | SgeTarget] = [QsysTarget(root)]
    if not args.no_sge and SgeTarget.available():
        targets += [SgeTarget(), SgeTunedTarget()]
    try:
        for target in targets:
            with target as t:
                col = rows.setdefault(t.name, {})
                tuned = isinstance(t, SgeTunedTarget)  # the scheduler's settings change only these
                if wanted("qsub") and not tuned:
                    col["one qsub"] = bench_one_qsub(t, 20)
                    col[f"{500 // scale} sequential qsubs"] = bench_sequential(t, 500 // scale)
                if wanted("latency"):
                    col["submit -> start (idle)"] = bench_latency(t, 10)
                    if isinstance(t, QsysTarget):
                        col["submit -> start (client)"] = bench_client_latency(t, 20)
                if wanted("drain"):
                    most = args.sge_tuned_drain if tuned else args.sge_drain
                    drained = 500 // scale if isinstance(t, QsysTarget) else min(500 // scale, most)
                    col["drain (jobs/s), 4 slots"] = f"{bench_drain(t, drained)} ({drained} jobs)"
                if wanted("qstat") and not tuned:
                    col.update(bench_qstat_pending(t, 5000 // scale))
                if isinstance(t, QsysTarget) and wanted("bulk"):
                    col[f"bulk submit {5000 // scale} (client)"] = bench_bulk(t, 5000 // scale)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    names = list(rows)
    figures = list(dict.fromkeys(k for col in rows.values() for k in col))
    width = max(len(f) for f in figures) + 2
    print("figure".ljust(width) + "".join(n.ljust(34) for n in names))
    for figure in figures:
        mine = rows["qsys"].get(figure, "")
        cells = [rows[n].get(figure, "-") + ("" if n == "qsys" else ratio(figure, mine, rows[n].get(figure, "")))
                 for n in names]
        print(figure.ljust(width) + "".join(c.ljust(34) for c in cells))
    if len(names) > 1:
        print("xN after an SGE figure: qsys is N times better (faster, or less memory); below 1, worse")
    return 0


if __name__ == "__main__":
    sys.exit(main())
