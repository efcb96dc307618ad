"""A real qsys cluster for tests: master and exec daemons as processes on loopback, in a
temporary QSYS_ROOT, with helpers to run the commands as they are run by users."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qsys.client import Client
    from qsys.records import JobRow

from qsys.testing.waiting import wait_until

__all__ = ["Cluster", "ensure_user", "wait_until"]

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class Cluster:
    """A personal- or service-mode cluster rooted in ``root``."""

    def __init__(self, root: Path, hosts: Sequence[str] = ("node1",), slots: int = 4,
                 mode: str = "personal", store_url: str | None = None, user: str | None = None,
                 extra_bootstrap: dict[str, str] | None = None) -> None:
        self.root = root
        self.hosts = list(hosts)
        self.slots = slots
        self.mode = mode
        self.store_url = store_url
        self.user = user  # run the daemons as this user (personal mode of an ordinary user)
        self.extra_bootstrap = extra_bootstrap or {}
        self.master_proc: subprocess.Popen[bytes] | None = None
        self.execd_procs: dict[str, subprocess.Popen[bytes]] = {}

    # ------------------------------------------------------------ environment

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["QSYS_ROOT"] = str(self.root)
        env["QSYS_CELL"] = "default"
        env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"
        env["PYTHONPATH"] = str(REPO)
        env.pop("QSYS_MASTER", None)
        return env

    def _as_user(self, argv: list[str], user: str | None) -> list[str]:
        """Prefix ``argv`` so it runs as ``user`` with the cluster's environment."""
        import pwd

        if user is None or pwd.getpwuid(os.getuid()).pw_name == user:
            return argv
        pairs = [f"{k}={v}" for k, v in self._user_env().items()]
        return ["runuser", "-u", user, "--", "env", *pairs, *argv]

    def _user_env(self) -> dict[str, str]:
        env = self.env
        return {k: env[k] for k in ("QSYS_ROOT", "QSYS_CELL", "PATH", "PYTHONPATH") if k in env}

    # ------------------------------------------------------------ life cycle

    def init(self) -> None:
        from qsys import auth
        from qsys.paths import Cell

        cell = Cell(self.root, "default")
        boot = {
            "mode": self.mode,
            "master_host": "127.0.0.1",
            "master_port": "0",
            "owner_uid": str(_uid_of(self.user) if self.user else os.getuid()),
            "store_url": self.store_url or f"sqlite:///{cell.master_spool / 'qsys.db'}",
            "exec_hosts": ",".join(self.hosts),
            "default_slots": str(self.slots),
            **self.extra_bootstrap,
        }
        cell.write_bootstrap(boot)
        auth.create_key(cell.key_file)
        cell.master_spool.mkdir(parents=True, exist_ok=True)
        if self.user:
            subprocess.run(["chown", "-R", self.user, str(self.root)], check=True)

    @property
    def cell(self):  # type: ignore[no-untyped-def]
        from qsys.paths import Cell

        return Cell(self.root, "default")

    def start_master(self) -> None:
        argv = self._as_user([sys.executable, "-m", "qsys.master.main", "--foreground"], self.user)
        log = open(self.root / "master.out", "ab")  # noqa: SIM115
        self.master_proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=log, cwd="/")
        wait_until(self._master_answers, 20, "the master to answer")

    def _master_answers(self) -> bool:
        try:
            self.client().hosts()
            return True
        except Exception:
            return False

    def start_execd(self, host: str, netns: str | None = None) -> None:
        argv = [sys.executable, "-m", "execd.main", "--foreground", "--host", host]
        argv = self._as_user(argv, self.user)
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        log = open(self.root / f"execd-{host}.out", "ab")  # noqa: SIM115
        self.execd_procs[host] = subprocess.Popen(argv, env=self.env, stdout=log, stderr=log, cwd="/")

    def wait_hosts(self, hosts: Sequence[str] | None = None, timeout: float = 20.0) -> None:
        wanted = set(hosts or self.hosts)
        wait_until(lambda: wanted <= self.registered_hosts(), timeout, f"hosts {sorted(wanted)} to register")

    def registered_hosts(self) -> set[str]:
        try:
            return {h.name for h in self.client().hosts() if h.load is not None}
        except Exception:
            return set()

    def start(self) -> Cluster:
        self.init()
        self.start_master()
        for host in self.hosts:
            self.start_execd(host)
        self.wait_hosts()
        return self

    def kill_master(self, sig: int = signal.SIGKILL) -> None:
        if self.master_proc is not None:
            self.master_proc.send_signal(sig)
            self.master_proc.wait(timeout=30)
            self.master_proc = None

    def kill_execd(self, host: str, sig: int = signal.SIGKILL) -> None:
        proc = self.execd_procs.pop(host, None)
        if proc is not None:
            proc.send_signal(sig)
            proc.wait(timeout=30)

    def stop(self) -> None:
        for host in list(self.execd_procs):
            self.kill_execd(host, signal.SIGTERM)
        self.kill_master(signal.SIGTERM)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    def teardown(self) -> None:
        """Stop the daemons and end what this cluster left running: jobs still running under
        its shepherds, forkservers, sessions (every fixture ends its cluster this way)."""
        self.stop()
        subprocess.run(["pkill", "-KILL", "-f", f"{self.root}/"], check=False)
        for pid in self.leftover_processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.remove_tmpdirs()

    def remove_tmpdirs(self) -> None:
        """The TMPDIRs (in /tmp) of the jobs whose shepherds the teardown killed: what the exec
        daemon removes for a shepherd that died while it runs."""
        from execd.spool import ACTIVE, TaskDir

        for task in self.root.glob(f"**/{ACTIVE}/*/"):
            with contextlib.suppress(ValueError):
                TaskDir(task).remove_tmpdir()

    def leftover_processes(self) -> list[int]:
        """Processes started with this cluster's environment (shepherds, forkservers, sessions)
        and everything below them: a shepherd outlives its exec daemon by design."""
        marker = f"QSYS_ROOT={self.root}".encode()
        parents: dict[int, int] = {}
        roots: set[int] = set()
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == os.getpid():
                continue
            pid = int(name)
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    parents[pid] = int(f.read().rsplit(b")", 1)[1].split()[1])
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if marker in f.read().split(b"\0"):
                        roots.add(pid)
            except (OSError, ValueError, IndexError):
                continue
        found, frontier = set(roots), list(roots)
        while frontier:
            parent = frontier.pop()
            for pid, ppid in parents.items():
                if ppid == parent and pid not in found:
                    found.add(pid)
                    frontier.append(pid)
        return sorted(found)

    # ------------------------------------------------------------ using it

    def client(self) -> Client:
        from qsys.client import Client

        return Client(self.cell, timeout=10.0)

    def run(self, *argv: str, user: str | None = None, input: bytes | None = None, cwd: str | None = None,
            check: bool = False, timeout: float = 60.0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command (``qsub ...``) as ``user`` (default: the cluster's user) and capture it."""
        if argv[0].startswith("q") and not (BIN / argv[0]).exists():  # never Debian's /usr/bin/q*
            raise AssertionError(f"{argv[0]} is not installed in {BIN} (make install, or pip install .)")
        command = [str(BIN / argv[0]) if (BIN / argv[0]).exists() else argv[0], *argv[1:]]
        full_env = self.env
        if env:
            full_env.update(env)
        command = self._as_user(command, user or self.user)
        proc = subprocess.run(command, env=full_env, input=input.decode() if input else None, capture_output=True,
                              text=True, cwd=cwd or "/tmp", timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{argv} exited {proc.returncode}: {proc.stderr}")
        return proc

    def qconf_answer(self, *args: str) -> str:
        """A qconf change's answer: Grid Engine's qconf prints it on stderr, nothing on stdout."""
        proc = self.run("qconf", *args)
        assert (proc.returncode, proc.stdout) == (0, ""), f"qconf {args}: {proc.returncode} {proc.stdout}{proc.stderr}"
        return proc.stderr

    def jobs(self, users: list[str] | None = None) -> list[JobRow]:
        with self.client() as client:
            return client.jobs(users or ["*"])

    def wait_idle(self, timeout: float = 60.0) -> None:
        wait_until(lambda: not self.jobs(), timeout, "all jobs to finish")


def _uid_of(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_uid


def ensure_user(name: str) -> tuple[int, int]:
    """Create a local user (test fixture, needs root) and return (uid, gid)."""
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", name], check=True)
        entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def listening_addresses(port: int) -> list[str]:
    """The local addresses (hex, as /proc/net/tcp{,6} write them) with a TCP socket listening
    on ``port``: 0100007F is 127.0.0.1, 00000000 every IPv4 address."""
    from pathlib import Path

    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:
                found.append(address)
    return found
