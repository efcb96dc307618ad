"""The scale benchmark: one master, up to 1,000 simulated exec hosts and 100,000 pending jobs.

    python bench/scale.py [--quick] [--sizes 100x10000,1000x100000] [--window 30] [--profile] [--cprofile]

For each size (exec hosts x pending tasks, 16 slots a host): a new cell; the master as its own
process (``qsys.master.main -f``, so its RSS and CPU are its own); the exec hosts simulated in
this process (``qsys.testing.SimFleet``, the real protocol over the master's Unix socket; jobs
run 1-10 s without forking). Then:

1. all.q disabled, the job mix submitted through ``qsys.client`` by 50 users in bulk
   (arrays, 200 categories of ``-l``, PE jobs, holds, dependencies, priorities): jobs/s;
2. ``qstat -u '*'`` (the command, a whole process) and the master's RSS with every job pending;
3. ``qmod -e all.q``: the first pass (it fills every slot), its time and phases;
4. ``--window`` seconds of sustained dispatch: dispatches/s, the mean pass and its phases,
   single submits/s from one more client meanwhile, ``qstat -u '*'`` under that load, the RSS
   with the queue full.
The pass figures come from the master's own measurement (``Client.master_metrics``: the
pass-time histogram, seconds per phase summed, the last pass; qsys.master.metrics); its CPU
time (``/proc/<pid>/stat``, all it did: passes, requests, end reports) is given per pass and
per dispatch, as wall time on two shared cores says little. With ``--profile``, py-spy samples
the master through the sustained phase of the largest size and the functions that take its
time are printed; ``--cprofile`` runs the master of the largest size under cProfile instead
(the whole run: submission too) and prints its costliest functions.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.procstat import cpu_seconds, rss_kb  # noqa: E402
from qsys import auth  # noqa: E402
from qsys.client import Client  # noqa: E402
from qsys.cluster import host_names, new_cell  # noqa: E402
from qsys.errors import ConnectionFailed  # noqa: E402
from qsys.jobspec import JobSpec, PeRequest, TaskRange  # noqa: E402
from qsys.master.metrics import PHASES  # noqa: E402
from qsys.paths import Cell  # noqa: E402
from qsys.testing import LoopThread, SimFleet  # noqa: E402

SLOTS = 16
USERS = 50
FULL_SIZES = "100x10000,1000x10000,100x100000,1000x100000"
QUICK_SIZES = "20x500,20x2000,50x2000"
H_RT = [f"{h}:00:00" for h in range(1, 11)]
H_VMEM = [f"{g}G" for g in range(1, 21)]  # x H_RT: 200 categories of -l


# ---------------------------------------------------------------- the job mix


@dataclass
class Submission:
    user: str
    spec: JobSpec
    tasks: int  # pending tasks it brings
    depends: bool = False  # hold on an earlier job of the same user (its id is known only then)


def job_mix(total_tasks: int, rng: random.Random) -> list[Submission]:
    """Jobs until ``total_tasks`` pending tasks: 75% single jobs, arrays of 10-200 tasks for
    about a fifth of the tasks, 4% PE jobs (smp 2-8 slots on one host, mpi 16-48 over hosts),
    2% held, 3% waiting for another job, a few with a lower priority. Categories are skewed
    (Zipf): a few common requests, a long tail."""
    weights = [1.0 / (rank + 1) for rank in range(len(H_RT) * len(H_VMEM))]
    out: list[Submission] = []
    count = 0
    while count < total_tasks:
        user = f"user{rng.randrange(USERS):02d}"
        category = rng.choices(range(len(weights)), weights)[0]
        spec = JobSpec(command="/bin/true", binary=True, name=f"job{len(out)}",
                       hard_resources={"h_rt": H_RT[category % len(H_RT)],
                                       "h_vmem": H_VMEM[category // len(H_RT)]},
                       context={"sim_run": f"{rng.uniform(1, 10):.1f}"})
        tasks = 1
        kind = rng.random()
        if kind < 0.05 and total_tasks - count > 200:
            tasks = rng.randint(10, 200)
            spec.tasks = TaskRange(1, tasks, 1)
        elif kind < 0.08:
            spec.pe = PeRequest("smp", rng.randint(2, 8), 8)
        elif kind < 0.09:
            slots = rng.randint(16, 48)
            spec.pe = PeRequest("mpi", slots, slots)
        spec.hold = rng.random() < 0.02
        if rng.random() < 0.1:
            spec.priority = -rng.randint(1, 100)
        out.append(Submission(user, spec, tasks, depends=rng.random() < 0.03))
        count += tasks
    return out


class UserClient(Client):
    """A client over TCP that signs for a simulated user (who needs no passwd entry here)."""

    def __init__(self, cell: Cell, uid: int, user: str) -> None:
        super().__init__(cell, act_as=uid)
        self.sim_user = user

    def _credential(self, nonce: bytes) -> dict[str, Any]:
        key = auth.load_key(self.cell.key_file)
        return auth.sign_credential(key, nonce, self.act_as or 0, os.uname().nodename.split(".")[0],
                                    user=self.sim_user)


def users_clients(cell: Cell) -> dict[str, UserClient]:
    return {f"user{i:02d}": UserClient(cell, 20000 + i, f"user{i:02d}") for i in range(USERS)}


def submit_all(clients: dict[str, UserClient], mix: list[Submission], rng: random.Random,
               batch: int = 500) -> int:
    """Bulk submission: every user at once (a thread each), in batches; the jobs submitted."""
    by_user: dict[str, list[Submission]] = {}
    for sub in mix:
        by_user.setdefault(sub.user, []).append(sub)
    seeds = {user: rng.randrange(1 << 30) for user in by_user}
    done: list[int] = []

    def one_user(user: str) -> None:
        pick = random.Random(seeds[user])
        ids: list[int] = []
        subs = by_user[user]
        for first in range(0, len(subs), batch):
            chunk = subs[first:first + batch]
            for sub in chunk:
                if sub.depends and ids:
                    sub.spec.hold_jids = [str(pick.choice(ids))]
            ids.extend(r.job_id for r in clients[user].submit_many([s.spec for s in chunk]))
        done.append(len(ids))

    threads = [threading.Thread(target=one_user, args=(user,)) for user in by_user]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done)


# ---------------------------------------------------------------- the master process


class MasterProcess:
    def __init__(self, cell: Cell, log: Path, cprofile: Path | None = None) -> None:
        env = dict(os.environ, QSYS_ROOT=str(cell.root), QSYS_CELL=cell.name,
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        self.cell = cell
        self.log = log.open("wb")
        profiler = ["-m", "cProfile", "-o", str(cprofile)] if cprofile is not None else []
        self.proc = subprocess.Popen([sys.executable, *profiler, "-m", "qsys.master.main", "-f"], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + (60 if cprofile is None else 300)
        while True:
            try:
                with Client(cell, timeout=5) as client:
                    client.hosts()
                if int(cell.bootstrap().get("master_port", "0")):
                    break
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the master did not start (see {log})") from None
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mb(self) -> float:
        return rss_kb(self.pid) / 1024

    def cpu_s(self) -> float:
        """The master's CPU time so far (user and system), seconds."""
        return cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# ---------------------------------------------------------------- measurements


@dataclass
class Figures:
    hosts: int
    tasks: int
    jobs: int = 0
    submit_per_s: float = 0.0
    idle_pass: float = 0.0
    idle_pass_phases: dict[str, float] = field(default_factory=dict)
    first_pass: float = 0.0
    first_pass_cpu: float = 0.0  # the master's CPU seconds from qmod -e to the first pass's end
    first_pass_dispatched: int = 0
    first_pass_phases: dict[str, float] = field(default_factory=dict)
    mean_pass: float = 0.0
    mean_phases: dict[str, float] = field(default_factory=dict)
    passes: int = 0
    cpu_per_pass: float = 0.0  # the master's CPU seconds in the sustained phase, per pass
    cpu_per_dispatch_ms: float = 0.0  # and per task dispatched, milliseconds
    dispatch_per_s: float = 0.0
    submit_during_per_s: float = 0.0
    qstat_s: float = 0.0
    qstat_lines: int = 0
    qstat_busy_s: float = 0.0
    array_s: float = 0.0  # a held 1,000,000-task array accepted in (qsys.client.submit)
    rss_idle: float = 0.0
    rss_pending: float = 0.0
    rss_running: float = 0.0
    running: int = 0


@dataclass
class PassFigures:
    """The master's pass figures at one moment (from its MetricsStatus reply)."""

    passes: int
    dispatched: int  # tasks dispatched since the master started
    sums: dict[str, float]  # seconds per phase over all passes
    last: dict[str, float]  # seconds per phase of the last pass
    last_dispatched: int


def pass_times(cell: Cell) -> PassFigures:
    with Client(cell) as client:
        m = client.master_metrics()
    return PassFigures(m.histogram("qsys_scheduling_pass_seconds").count, int(m.counter("qsys_dispatches_total")),
                       {p: m.counter("qsys_scheduling_phase_seconds_total", phase=p) for p in PHASES},
                       {p: m.gauge("qsys_scheduling_last_pass_seconds", phase=p) for p in PHASES},
                       int(m.gauge("qsys_scheduling_last_pass_dispatches")))


def qstat_all(cell: Cell, repeat: int) -> tuple[float, int]:
    """The median wall time of ``qstat -u '*'`` (a whole process) and its lines of output."""
    env = dict(os.environ, QSYS_ROOT=str(cell.root), QSYS_CELL=cell.name)
    times, lines = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "qsys.cli.qstat", "-u", "*"], env=env, check=True,
                             capture_output=True).stdout
        times.append(time.perf_counter() - t0)
        lines = out.count(b"\n")
    return statistics.median(times), lines


def wait_for_pass(cell: Cell, after: int, timeout: float = 900) -> PassFigures:
    """The pass figures once a pass after pass number ``after`` dispatched something."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            figures = pass_times(cell)
        except ConnectionFailed:  # the master is inside a long pass: its backlog is full
            continue
        if figures.passes > after and figures.last_dispatched > 0:
            return figures
        time.sleep(0.05)
    raise TimeoutError("no pass dispatched anything")


HUGE_ARRAY = 1_000_000


def allow_huge_arrays(cell: Cell) -> None:
    """max_aj_tasks 0 (no limit) in the global configuration."""
    with Client(cell) as admin:
        lines = admin.conf_show("conf", "global").text.splitlines()
        text = "\n".join("max_aj_tasks 0" if line.startswith("max_aj_tasks") else line for line in lines)
        admin.conf("modify", "conf", "global", text + "\n")


def submit_huge_array(cell: Cell) -> float:
    """Seconds to have a held array of :data:`HUGE_ARRAY` tasks accepted (held, so the figures
    after it are those of the mix)."""
    with Client(cell) as admin:
        t0 = time.perf_counter()
        admin.submit(JobSpec(command="/bin/true", binary=True, name="huge", hold=True,
                             tasks=TaskRange(1, HUGE_ARRAY, 1)))
        return time.perf_counter() - t0


def submitter(clients: dict[str, UserClient], rng: random.Random, stop: threading.Event, counts: list[int]) -> None:
    """One client's single submissions, as fast as the master takes them."""
    client = clients["user00"]
    while not stop.is_set():
        sub = job_mix(1, rng)[0]
        sub.spec.pe, sub.spec.tasks, sub.spec.hold = None, None, False
        try:
            client.submit(sub.spec)
        except ConnectionFailed:  # timed out behind long passes (on loaded cores): not counted
            continue
        counts[0] += 1


def run_size(hosts: int, tasks: int, window: float, repeat: int, profile: Path | None,
             cprofile: Path | None = None) -> Figures:
    fig = Figures(hosts, tasks)
    rng = random.Random(hosts * 1_000_003 + tasks)
    root = Path(tempfile.mkdtemp(prefix="qsys-scale-", dir="/tmp"))
    cell = Cell(root, "default")
    new_cell(cell, hosts=hosts, slots=SLOTS, port=0, store_url=None)
    master = MasterProcess(cell, root / "master.log", cprofile)
    loop = LoopThread("scale-fleet")
    fleet = SimFleet(cell.master_socket, auth.load_key(cell.key_file), host_names(hosts), slots=SLOTS)
    clients = users_clients(cell)
    try:
        loop.call(fleet.start(timeout=300))
        fig.rss_idle = master.rss_mb()
        allow_huge_arrays(cell)  # before the jobs: a configuration change costs a long pass with them
        with Client(cell) as admin:
            admin.queue_action("disable", ["all.q"])
        mix = job_mix(tasks, rng)
        t0 = time.perf_counter()
        fig.jobs = submit_all(clients, mix, rng)
        fig.submit_per_s = fig.jobs / (time.perf_counter() - t0)
        fig.array_s = submit_huge_array(cell)
        fig.qstat_s, fig.qstat_lines = qstat_all(cell, repeat)
        fig.rss_pending = master.rss_mb()
        before = pass_times(cell)
        fig.idle_pass, fig.idle_pass_phases = sum(before.last.values()), dict(before.last)
        cpu0 = master.cpu_s()
        with Client(cell) as admin:
            admin.queue_action("enable", ["all.q"])
        first = wait_for_pass(cell, before.passes)
        fig.first_pass_cpu = master.cpu_s() - cpu0
        fig.first_pass, fig.first_pass_phases = sum(first.last.values()), dict(first.last)
        fig.first_pass_dispatched = first.last_dispatched

        stop, counts = threading.Event(), [0]
        feeder = threading.Thread(target=submitter, args=(clients, random.Random(7), stop, counts), daemon=True)
        spy = start_profile(master.pid, window, profile) if profile else None
        start = pass_times(cell)
        t0, cpu0 = time.perf_counter(), master.cpu_s()
        feeder.start()
        fig.qstat_busy_s, _ = qstat_all(cell, 1)
        time.sleep(max(0.0, window - (time.perf_counter() - t0)))
        end = pass_times(cell)
        elapsed, cpu = time.perf_counter() - t0, master.cpu_s() - cpu0
        stop.set()
        feeder.join(60)
        fig.rss_running = master.rss_mb()
        fig.running = loop.call(fleet.running)
        fig.submit_during_per_s = counts[0] / elapsed
        fig.dispatch_per_s = (end.dispatched - start.dispatched) / elapsed
        fig.passes = end.passes - start.passes
        fig.cpu_per_dispatch_ms = 1000 * cpu / max(1, end.dispatched - start.dispatched)
        if fig.passes:
            fig.cpu_per_pass = cpu / fig.passes
            fig.mean_phases = {p: (end.sums[p] - start.sums[p]) / fig.passes for p in PHASES}
            fig.mean_pass = sum(fig.mean_phases.values())
        if spy is not None:
            spy.wait(window + 60)
    finally:
        for client in clients.values():
            client.close()
        try:
            loop.call(fleet.stop(), timeout=120)
        finally:
            loop.close()
            master.stop()
            shutil.rmtree(root, ignore_errors=True)
    return fig


# ---------------------------------------------------------------- the profile


def start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not os.path.exists(spy):
        print("py-spy is not installed (pip install py-spy): no profile", file=sys.stderr)
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "100",
                             "--nonblocking", "--format", "raw", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def profile_summary(path: Path, top: int = 15) -> list[str]:
    """The functions with the most samples: own time, and with what they call."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")[1:]]  # the first names the thread
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return ["(no samples)"]
    out = [f"{total} samples of the master; own time:"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    out.append("with what they call (qsys functions):")
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(200)
            if "qsys/" in name][:top]
    return out


def cprofile_summary(path: Path, top: int = 40) -> str:
    """The functions with the most own time, then with the most time with what they call."""
    import pstats

    out = StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def _short(frame: str) -> str:
    """``function (path/to/file.py:12)`` -> ``function (qsys/master/x.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("/qsys/", "/execd/", "/lib/python"):
        if marker in where:
            where = where[where.index(marker) + 1:]
            break
    return f"{name} ({where})"


# ---------------------------------------------------------------- the report


def table(figs: list[Figures]) -> list[str]:
    head = ("hosts", "pending", "jobs", "submit/s", "1M_array_s", "idle_pass_s", "first_pass_s", "first_cpu_s",
            "starts", "mean_pass_s", "passes", "cpu/pass_s", "cpu/dispatch_ms", "dispatch/s", "busy_submit/s", "qstat_s", "busy_qstat_s", "rss_idle_MB", "rss_pending_MB",
            "rss_running_MB", "KB/pending", "KB/job")
    rows = [head]
    for f in figs:
        per_task = (f.rss_pending - f.rss_idle) * 1024 / max(1, f.tasks)
        per_job = (f.rss_pending - f.rss_idle) * 1024 / max(1, f.jobs)
        rows.append((str(f.hosts), str(f.tasks), str(f.jobs), f"{f.submit_per_s:.0f}", f"{f.array_s:.3f}",
                     f"{f.idle_pass:.3f}", f"{f.first_pass:.3f}", f"{f.first_pass_cpu:.3f}",
                     str(f.first_pass_dispatched), f"{f.mean_pass:.3f}", str(f.passes), f"{f.cpu_per_pass:.3f}",
                     f"{f.cpu_per_dispatch_ms:.3f}", f"{f.dispatch_per_s:.0f}", f"{f.submit_during_per_s:.0f}", f"{f.qstat_s:.3f}",
                     f"{f.qstat_busy_s:.3f}", f"{f.rss_idle:.0f}", f"{f.rss_pending:.0f}", f"{f.rss_running:.0f}",
                     f"{per_task:.2f}", f"{per_job:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]


def phases(figs: list[Figures]) -> list[str]:
    out = ["where a pass goes (seconds: snapshot / decide / apply / commit); idle: all.q disabled, "
           "all pending; first: after qmod -e, filling the slots; mean: of the sustained phase"]
    for f in figs:
        shown = [" / ".join(f"{times.get(p, 0):.3f}" for p in PHASES)
                 for times in (f.idle_pass_phases, f.first_pass_phases, f.mean_phases)]
        rate = f.first_pass_dispatched / f.first_pass if f.first_pass else 0.0
        out.append(f"  {f.hosts:>5} hosts {f.tasks:>7} pending:  idle {shown[0]};  first {shown[1]} "
                   f"({rate:.0f} starts/s);  mean {shown[2]}")
    return out


GROWN = (("submit/s", "submit_per_s"), ("idle pass", "idle_pass"), ("first pass", "first_pass"),
         ("mean pass", "mean_pass"), ("cpu/pass", "cpu_per_pass"), ("dispatch/s", "dispatch_per_s"), ("qstat", "qstat_s"),
         ("RSS pending", "rss_pending"), ("RSS running", "rss_running"))


def growth(figs: list[Figures]) -> list[str]:
    """How each figure changes between two sizes that differ in one dimension."""
    out = []
    for a in figs:
        for b in figs:
            same_hosts = a.hosts == b.hosts and b.tasks > a.tasks
            same_jobs = a.tasks == b.tasks and b.hosts > a.hosts
            if not (same_hosts or same_jobs):
                continue
            factor = b.tasks / a.tasks if same_hosts else b.hosts / a.hosts
            what = (f"{a.tasks} -> {b.tasks} pending at {a.hosts} hosts" if same_hosts
                    else f"{a.hosts} -> {b.hosts} hosts at {a.tasks} pending")
            parts = []
            for label, attr in GROWN:
                before, after = getattr(a, attr), getattr(b, attr)
                ratio = after / before if before else float("inf")
                parts.append(f"{label} x{ratio:.2f}")
            out.append(f"  {what} (x{factor:g}): " + ", ".join(parts))
    return out or ["  (one size only)"]


def parse_sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        hosts, _, tasks = item.partition("x")
        out.append((int(hosts), int(tasks)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"small sizes ({QUICK_SIZES}) and a short window")
    parser.add_argument("--sizes", help=f"HOSTSxTASKS,... (default {FULL_SIZES})")
    parser.add_argument("--window", type=float, help="seconds of sustained dispatch per size (default 30)")
    parser.add_argument("--profile", action="store_true", help="py-spy the master at the largest size")
    parser.add_argument("--cprofile", action="store_true", help="cProfile the master at the largest size")
    args = parser.parse_args(argv)
    sizes = parse_sizes(args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES))
    window = args.window or (3.0 if args.quick else 30.0)
    repeat = 1 if args.quick else 3
    largest = max(sizes, key=lambda s: (s[1], s[0]))
    figs: list[Figures] = []
    profile_file: Path | None = None
    cprofile_file: Path | None = None
    for hosts, tasks in sizes:
        print(f"# {hosts} hosts x {SLOTS} slots, {tasks} pending tasks ...", file=sys.stderr, flush=True)
        wanted = args.profile and (hosts, tasks) == largest
        profile_file = Path(tempfile.mkstemp(prefix="qsys-scale-profile-", suffix=".txt")[1]) if wanted \
            else profile_file
        if args.cprofile and (hosts, tasks) == largest:
            cprofile_file = Path(tempfile.mkstemp(prefix="qsys-scale-cprofile-", suffix=".prof")[1])
        figs.append(run_size(hosts, tasks, window, repeat, profile_file if wanted else None,
                             cprofile_file if (hosts, tasks) == largest else None))
        print("\n".join(table(figs)[-1:]), file=sys.stderr, flush=True)  # kept should a later size fail
    print(f"qsys scale benchmark: simulated exec hosts ({SLOTS} slots each) over the real protocol, "
          f"the master in its own process; {window:g} s of sustained dispatch per size")
    print("submit/s: bulk, 50 users at once, all.q disabled; idle/first/mean pass: see below; starts: "
          "what the first pass dispatched; busy_*: while dispatching; qstat: `qstat -u '*'`, the whole "
          "command; 1M_array_s: a held 1,000,000-task array accepted in; KB/pending, KB/job: RSS growth "
          "per pending task, per pending job (the array's one job not counted)")
    print("\n".join(table(figs)))
    print("\n".join(phases(figs)))
    print("growth:")
    print("\n".join(growth(figs)))
    if profile_file is not None and profile_file.exists() and profile_file.stat().st_size:
        print(f"profile of the master at {largest[0]} hosts, {largest[1]} pending (py-spy):")
        print("\n".join(profile_summary(profile_file)))
    if cprofile_file is not None and cprofile_file.stat().st_size:
        print(f"cProfile of the master at {largest[0]} hosts, {largest[1]} pending:")
        print(cprofile_summary(cprofile_file))
        print(f"(the whole profile: {cprofile_file}, for pstats)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
