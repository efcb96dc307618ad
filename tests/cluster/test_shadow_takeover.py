"""Failover: two master hosts and an exec host in network namespaces, PostgreSQL on the
bridge, a job stream running. The active master's host is cut off (its link down) or its
process stopped (SIGSTOP) for longer than the lease: the shadow takes over; jobs submitted
before keep their state, running jobs end once, new jobs run, every acknowledged job is
accounted exactly once (store and accounting file), and the old master, back, finds it lost
the lease and stops without a write landing.

Each host has its own cell root whose ``common`` is a link to one shared directory (as
``common`` is on a shared file system in a real cell), so every host keeps its own spool.
The measured times are printed (run with ``-s``); the only bounds are the ones a test needs
to end.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from qsys import auth
from qsys.cellinit import ensure_tls
from qsys.master.lease import pid_alive
from qsys.paths import Cell
from qsys.store.lease import LeaseRow, LeaseTable
from tests.clusterlib import BIN, REPO, wait_until
from tests.netns import NetnsLab
from tests.pg import PostgresServer, find_bindir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

HOSTS = ["m1", "m2", "e1"]
PORT = 7444  # the same port in each namespace: every namespace has its ports to itself
BOUND = 60.0  # generous: what the test needs to end, not a figure


class FailoverCell:
    """The lab: namespaces, the server, the shared common directory, the daemons."""

    def __init__(self, root: Path, lab: NetnsLab, pg: PostgresServer, tls: bool = False) -> None:
        self.root, self.lab, self.pg, self.tls = root, lab, pg, tls
        self.database = pg.new_database()
        name = self.database.rsplit("/", 1)[1]
        self.shared = Cell(root / "shared", "default")
        self.local_url = pg.url(name)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.stopped: set[int] = set()
        boot = {
            "mode": "personal",
            "master_candidates": f"m1:{PORT},m2:{PORT}",
            "master_port": str(PORT),
            "owner_uid": "0",
            "store_url": pg.url(name, host=lab.subnet + ".1"),
            "exec_hosts": "e1",
            "default_slots": "4",
        }
        if tls:
            boot["tls"] = "yes"
            ensure_tls(self.shared, "default", "m1", ["m1", "m2"], lambda _line: None)  # one cert, both masters
        self.shared.write_bootstrap(boot)
        auth.create_key(self.shared.key_file)
        for host in HOSTS:
            cell_dir = self.host_root(host) / "default"
            cell_dir.mkdir(parents=True)
            (cell_dir / "common").symlink_to(self.shared.common)
        (root / "out").mkdir()
        self.lease_table = LeaseTable(self.local_url)

    def host_root(self, host: str) -> Path:
        return self.root / "hosts" / host

    def env(self, host: str) -> dict[str, str]:
        env = dict(os.environ, QSYS_ROOT=str(self.host_root(host)), QSYS_CELL="default", QSYS_HOST=host,
                   PYTHONPATH=str(REPO), PATH=f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}")
        env.pop("QSYS_MASTER", None)
        return env

    def spawn(self, label: str, host: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{label}.out", "ab")  # noqa: SIM115
        proc = subprocess.Popen(["ip", "netns", "exec", self.lab.ns(host), *argv], env=self.env(host),
                                stdout=log, stderr=log, cwd="/")
        self.procs[label] = proc
        return proc

    def start_master(self, host: str) -> subprocess.Popen[bytes]:
        return self.spawn(f"master-{host}", host,
                          [sys.executable, "-m", "qsys.master.main", "--foreground", "--host", host])

    def start_shadow(self, host: str) -> subprocess.Popen[bytes]:
        return self.spawn(f"shadow-{host}", host,
                          [sys.executable, "-m", "qsys.master.shadow", "--foreground", "--host", host])

    def start_execd(self, host: str) -> subprocess.Popen[bytes]:
        return self.spawn(f"execd-{host}", host, [sys.executable, "-m", "execd.main", "--foreground", "--host", host])

    # ------------------------------------------------------------ using it (from the exec host)

    def q(self, *argv: str, timeout: float = 30.0, master: str = "") -> subprocess.CompletedProcess[str]:
        """A command as a user on the exec host runs it (``master``: QSYS_MASTER, the only
        address it tries)."""
        command = [str(BIN / argv[0]), *argv[1:]]
        env = dict(self.env("e1"), QSYS_MASTER=master, QSYS_CONNECT_RETRY="2") if master else self.env("e1")
        return subprocess.run(["ip", "netns", "exec", self.lab.ns("e1"), *command], env=env,
                              capture_output=True, text=True, timeout=timeout, cwd="/tmp")

    def submit(self, seconds: float, status: int, name: str) -> int | None:
        proc = self.q("qsub", "-terse", "-b", "y", "-N", name, "-o", str(self.root / "out"), "-j", "y",
                      "/bin/sh", "-c", f"sleep {seconds}; exit {status}")
        return int(proc.stdout.split(".")[0]) if proc.returncode == 0 and proc.stdout.strip() else None

    def job_states(self) -> dict[int, str] | None:
        proc = self.q("qstat", "-u", "*")
        if proc.returncode != 0:
            return None
        states = {}
        for line in proc.stdout.splitlines()[2:]:
            fields = line.split()
            if fields and fields[0].isdigit():
                states[int(fields[0])] = fields[4]
        return states

    def host_up(self, host: str) -> bool:
        proc = self.q("qhost")
        return proc.returncode == 0 and any(
            line.split()[0] == host and line.split()[3] != "-" for line in proc.stdout.splitlines()[3:] if line.split())

    def answering_master(self) -> str:
        """The host whose master answered a qstat (act_qmaster once it answers), or ""."""
        if self.q("qstat").returncode != 0:
            return ""
        return (self.shared.common / "act_qmaster").read_text().strip()

    # ------------------------------------------------------------ what the store and the file say

    def lease(self) -> LeaseRow | None:
        try:
            return self.lease_table.read()
        except Exception:
            return None

    def store_accounting(self) -> Counter[tuple[int, int]]:
        from qsys.store import Store

        store = Store(self.local_url)
        try:
            return Counter((int(r["job_number"]), int(r["task_number"] or 1)) for r in store.accounting())
        finally:
            store.close()

    def file_accounting(self) -> Counter[tuple[int, int]]:
        from qsys.accounting_file import parse_record

        found: Counter[tuple[int, int]] = Counter()
        path = self.shared.accounting_file
        for line in path.read_text().splitlines() if path.exists() else []:
            record = parse_record(line)
            if record is not None:
                found[(int(record["job_number"]), int(record["task_number"] or 1))] += 1
        return found

    def exit_statuses(self) -> dict[int, int]:
        from qsys.accounting_file import parse_record

        statuses = {}
        for line in self.shared.accounting_file.read_text().splitlines():
            record = parse_record(line)
            if record is not None:
                statuses[int(record["job_number"])] = int(record["exit_status"])
        return statuses

    def log(self, label: str) -> str:
        return (self.root / f"{label}.out").read_text(errors="replace")

    # ------------------------------------------------------------ teardown

    def close(self) -> None:
        for pid in self.stopped:
            _signal(pid, signal.SIGCONT)
        for host in HOSTS:
            subprocess.run(["ip", "netns", "exec", self.lab.ns(host), "ip", "link", "set",
                            f"{self.lab.prefix}n{HOSTS.index(host)}", "up"], capture_output=True)
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.lease_table.close()
        # what outlives the daemons (shepherds, jobs, forkservers): killed, and gone before
        # the namespaces they entered are deleted
        marker = f"QSYS_ROOT={self.root}/".encode()
        left = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/environ", "rb") as f:
                        if any(v.startswith(marker) for v in f.read().split(b"\0")):
                            os.kill(int(name), signal.SIGKILL)
                            left.append(int(name))
                except OSError:
                    continue
        wait_until(lambda: not [pid for pid in left if pid_alive(pid)], 30, "leftover processes to end")


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class Stream:
    """Submits a job every ``every`` seconds from the exec host until stopped; remembers
    which submissions were acknowledged and which were refused."""

    def __init__(self, cell: FailoverCell, every: float = 0.7) -> None:
        self.cell, self.every = cell, every
        self.acknowledged: list[int] = []
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=BOUND)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            job = self.cell.submit(1 + n % 3, n % 5, f"stream{n}")
            if job is None:
                self.refused += 1
            else:
                self.acknowledged.append(job)
            self._stop.wait(self.every)


@pytest.fixture(params=[False], ids=["plain"])
def failover(qsys_root: Path, request: pytest.FixtureRequest) -> Iterator[FailoverCell]:
    """The cell; in TLS when the test is parametrized so (``indirect``)."""
    find_bindir()
    # a prefix of its own: the kernel may keep a deleted namespace (and its names) a while
    with NetnsLab(HOSTS, prefix=f"f{secrets.token_hex(2)}") as lab:
        pg = PostgresServer(listen=[lab.subnet + ".1"])
        pg.start()
        cell = FailoverCell(qsys_root, lab, pg, tls=request.param)
        try:
            cell.start_master("m1")
            wait_until(lambda: cell.answering_master() == "m1", BOUND, "m1 to answer as the master", interval=0.3)
            cell.start_shadow("m2")
            cell.start_execd("e1")
            wait_until(lambda: cell.host_up("e1"), BOUND, "e1 to register", interval=0.3)
            wait_until(lambda: "watching the lease" in cell.log("shadow-m2"), BOUND, "the shadow to wait on its port",
                       interval=0.2)
            yield cell
        finally:
            cell.close()
            pg.stop()


def submit_before(cell: FailoverCell) -> dict[int, int]:
    """Jobs of 3 to 12 s (4 slots: some end during the fault, some run on through the
    takeover, some wait): id -> the exit status each ends with."""
    jobs = {}
    for i in range(10):
        job = cell.submit(3 + 3 * (i % 4), 10 + i, f"before{i}")
        assert job is not None
        jobs[job] = 10 + i
    wait_until(lambda: "r" in (cell.job_states() or {}).values(), BOUND, "jobs to run", interval=0.3)
    return jobs


def measure_takeover(cell: FailoverCell, old_epoch: int, t0: float) -> dict[str, float]:
    """Seconds from the fault to: the new epoch in the store, the new master answering, the
    exec host registered with it."""
    figures = {}
    wait_until(lambda: (lease := cell.lease()) is not None and lease.epoch > old_epoch, BOUND,
               "the shadow to take the lease over", interval=0.05)
    figures["lease taken"] = time.monotonic() - t0
    wait_until(lambda: cell.answering_master() == "m2", BOUND, "the new master to answer", interval=0.2)
    figures["answering"] = time.monotonic() - t0
    wait_until(lambda: cell.host_up("e1"), BOUND, "e1 to register with the new master", interval=0.2)
    figures["exec host back"] = time.monotonic() - t0
    return figures


def check_exactly_once(cell: FailoverCell, before: dict[int, int], stream: Stream) -> None:
    """Every acknowledged job ends, with one record in the store and one line in the file."""
    wanted = set(before) | set(stream.acknowledged)
    wait_until(lambda: (states := cell.job_states()) is not None and not (wanted & set(states)), 3 * BOUND,
               "every job to end", interval=0.5)
    in_store, in_file = cell.store_accounting(), cell.file_accounting()
    assert {job for job, _ in in_store} >= wanted, "an acknowledged job was lost"
    assert [key for key, n in in_store.items() if n > 1] == [], "accounted twice in the store"
    assert [key for key, n in in_file.items() if n > 1] == [], "accounted twice in the accounting file"
    assert set(in_file) == set(in_store)
    statuses = cell.exit_statuses()
    assert {job: statuses[job] for job in before} == before  # the running jobs ended as they did


@pytest.mark.parametrize("failover", [False, True], ids=["plain", "tls"], indirect=True)
def test_link_of_the_active_master_cut(failover: FailoverCell) -> None:
    cell = failover
    if cell.tls:
        # the waiting shadow answers in TLS: a command that only knows m2 is sent on to m1
        sent_on = cell.q("qstat", "-u", "*", master=f"m2:{PORT}")
        assert sent_on.returncode == 0, sent_on.stderr
    before = submit_before(cell)
    lease = cell.lease()
    assert lease is not None and lease.holder == "m1"
    with Stream(cell) as stream:
        wait_until(lambda: len(stream.acknowledged) >= 2, BOUND, "the stream to flow", interval=0.2)
        states_before = cell.job_states()
        assert states_before is not None
        t0 = time.monotonic()
        cell.lab.set_link("m1", up=False)
        figures = measure_takeover(cell, lease.epoch, t0)
        after = cell.job_states()
        assert after is not None
        # every job known before is still known, or has ended (and is accounted)
        ended = {job for job, _ in cell.store_accounting()}
        assert [j for j in states_before if j not in after and j not in ended] == []
        acknowledged_during = len(stream.acknowledged)
        wait_until(lambda: len(stream.acknowledged) >= acknowledged_during + 2, BOUND,
                   "new jobs to be accepted by the new master", interval=0.3)
    print(f"\nlink cut ({'tls' if cell.tls else 'plain'}): {', '.join(f'{k} {v:.2f}s' for k, v in figures.items())}; "
          f"stream: {len(stream.acknowledged)} acknowledged, {stream.refused} refused")
    check_exactly_once(cell, before, stream)
    # the old master, reachable again, finds that it lost the lease and stops by itself
    cell.lab.set_link("m1", up=True)
    old = cell.procs["master-m1"]
    wait_until(lambda: old.poll() is not None, BOUND, "the old master to stop", interval=0.2)
    assert old.returncode == 3
    assert "the master lease passed to m2 (epoch 2)" in cell.log("master-m1")


def test_active_master_stopped_longer_than_its_lease(failover: FailoverCell) -> None:
    cell = failover
    before = submit_before(cell)
    lease = cell.lease()
    assert lease is not None and lease.holder == "m1"
    old = cell.procs["master-m1"]
    # a client that got through to m1 before it stopped, and sends a job while it is stopped
    stale = subprocess.Popen(
        ["ip", "netns", "exec", cell.lab.ns("e1"), sys.executable, "-c", STALE_CLIENT, str(cell.root / "out")],
        env=cell.env("e1"), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert stale.stdout is not None and stale.stdin is not None
    assert stale.stdout.readline().strip() == "connected"
    with Stream(cell) as stream:
        wait_until(lambda: len(stream.acknowledged) >= 2, BOUND, "the stream to flow", interval=0.2)
        t0 = time.monotonic()
        old.send_signal(signal.SIGSTOP)
        cell.stopped.add(old.pid)
        stale.stdin.write("submit\n")
        stale.stdin.flush()
        figures = measure_takeover(cell, lease.epoch, t0)
        acknowledged_during = len(stream.acknowledged)
        wait_until(lambda: len(stream.acknowledged) >= acknowledged_during + 2, BOUND,
                   "new jobs to be accepted by the new master", interval=0.3)
        # jobs end under the new master while the old one is still stopped
        wait_until(lambda: len(cell.store_accounting()) > 0, BOUND, "an end under the new master", interval=0.3)
        store_before_wake = cell.store_accounting()
        file_before_wake = cell.file_accounting()
        woke = time.monotonic()
        old.send_signal(signal.SIGCONT)
        cell.stopped.discard(old.pid)
        wait_until(lambda: old.poll() is not None, BOUND, "the old master to stop itself", interval=0.1)
        figures["old master gone after SIGCONT"] = time.monotonic() - woke
    out, _ = stale.communicate(timeout=BOUND)
    print(f"\nSIGSTOP: {', '.join(f'{k} {v:.2f}s' for k, v in figures.items())}; "
          f"stream: {len(stream.acknowledged)} acknowledged, {stream.refused} refused")
    assert old.returncode == 3
    assert "the master lease passed to m2 (epoch 2)" in cell.log("master-m1")
    # what the old master was sent while stopped was refused: the job is nowhere
    assert not out.startswith("submitted"), out
    lease_now = cell.lease()
    assert lease_now is not None and lease_now.holder == "m2" and lease_now.epoch == lease.epoch + 1
    check_exactly_once(cell, before, stream)
    # what had ended before the old master woke is still there once, not again
    assert all(cell.store_accounting()[key] == 1 for key in store_before_wake)
    assert all(cell.file_accounting()[key] == 1 for key in file_before_wake)
    names = job_names(cell)
    assert "stale" not in names, "a job sent to the stopped master exists"


def job_names(cell: FailoverCell) -> set[str]:
    """The names of every job in the store, running or ended."""
    from qsys.store import Store

    store = Store(cell.local_url)
    try:
        loaded = store.load()
        names = {str(record.get("spec", {}).get("name", "")) for record in loaded.jobs.values()}
        return names | {str(r["job_name"]) for r in store.accounting()}
    finally:
        store.close()


STALE_CLIENT = """
import sys
from qsys.client import Client
from qsys.jobspec import JobSpec
client = Client(timeout=120)
client.hosts()
print("connected", flush=True)
sys.stdin.readline()
spec = JobSpec(command="/bin/true", binary=True, name="stale", stdout_paths=[sys.argv[1]], join=True)
try:
    print("submitted", client.submit(spec), flush=True)
except Exception as exc:
    print("refused:", exc, flush=True)
"""
