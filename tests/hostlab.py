"""Hosts of their own for cluster tests: nothing shared but the users and their homes.

Each host is (unless ``network=False``) a network namespace on a bridge (``tests.netns.NetnsLab``:
its own address, and an /etc/hosts naming every host), a UTS namespace with its name, and a
mount namespace in which ``/var/lib/qsys``, ``/usr/local/bin``, ``/usr/local/share/man`` and
``/etc/systemd/system`` are private directories of the test (root's HOME too), so a cell,
its keys, its links and its units exist on that host only -- as on separate machines with
NFS homes (``homes``: users whose home is the lab's own, shared by its hosts only). An anchor
process (``sleep``) holds the namespaces; :meth:`Host.run` runs a command in them
(``nsenter``), as root or as a user, with a login-like environment of its own (nothing of the
test's QSYS_* leaks in). Teardown kills every process in a host's mount namespace (its
daemons, shepherds and jobs), whose end also ends the namespace's mounts.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.clusterlib import REPO, wait_until
from tests.netns import NetnsLab

_LABS = itertools.count()  # labs of one test run get bridges and namespaces of their own
PRIVATE = ("/var/lib/qsys", "/usr/local/bin", "/usr/local/share/man", "/etc/systemd/system")
ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
USER_PATH = "/usr/local/bin:/usr/bin:/bin"
_ANCHOR = """
hostname "$1"; shift
while [ $# -gt 0 ]; do mount --bind "$1" "$2" || exit 1; shift 2; done
echo ready
exec sleep infinity
"""


class Host:
    def __init__(self, lab: HostLab, name: str) -> None:
        self.lab = lab
        self.name = name
        self.base = lab.tmp / name
        self.anchor: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        assert self.lab.net is not None, "a host without a network namespace of its own has no lab address"
        return self.lab.net.addresses[self.name]

    def path(self, inside: str) -> Path:
        """Where a private directory of this host is seen from the test (the real file system)."""
        return self.base / inside.lstrip("/")

    def start(self) -> None:
        for inside in PRIVATE:
            self.path(inside).mkdir(parents=True, exist_ok=True)
        self.path("/root").mkdir(parents=True, exist_ok=True)
        mounts = [(self.path(inside), inside) for inside in PRIVATE]
        mounts += [(self.lab.home(user), pwd.getpwnam(user).pw_dir) for user in self.lab.homes]
        argv = ["unshare", "--mount", "--uts", "--propagation", "private", "--", "sh", "-c", _ANCHOR, "sh",
                self.name, *(str(part) for mount in mounts for part in mount)]
        if self.lab.net is not None:
            argv = ["ip", "netns", "exec", self.lab.net.ns(self.name), *argv]
        self.anchor = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.anchor.stdout is not None
        line = self.anchor.stdout.readline()
        if line.strip() != b"ready":
            raise AssertionError(f"host {self.name} did not come up: {self.anchor.stderr.read() if self.anchor.stderr else ''}")

    def env(self, user: str | None) -> dict[str, str]:
        if user is None:
            home, path = str(self.path("/root")), ROOT_PATH
        else:
            home, path = pwd.getpwnam(user).pw_dir, USER_PATH
        env = {"HOME": home, "PATH": path, "LANG": "C.UTF-8", "PYTHONPATH": str(REPO), "TERM": "dumb",
               "USER": user or "root", "LOGNAME": user or "root"}
        return env

    def run(self, command: str, user: str | None = None, *, check: bool = False, timeout: float = 120.0,
            env: dict[str, str] | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """``bash -c command`` on this host, as root or ``user``."""
        assert self.anchor is not None
        full = {**self.env(user), **(env or {})}
        argv = ["nsenter", "-t", str(self.anchor.pid), "-m", "-u", *(["-n"] if self.lab.net else []), "--"]
        if user is not None:
            argv += ["runuser", "-u", user, "--"]
        argv += ["env", "-i", *(f"{k}={v}" for k, v in full.items()), "bash", "-c", command]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                              cwd=full["HOME"] if user is None else "/tmp")
        if check and proc.returncode != 0:
            raise AssertionError(f"{self.name}$ {command}\nexit {proc.returncode}\n{proc.stdout}{proc.stderr}")
        return proc

    def processes(self) -> list[int]:
        """Every process in this host's mount namespace but the anchor."""
        if self.anchor is None:
            return []
        try:
            mine = os.readlink(f"/proc/{self.anchor.pid}/ns/mnt")
        except OSError:
            return []
        found = []
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) != self.anchor.pid:
                try:
                    if os.readlink(f"/proc/{name}/ns/mnt") == mine:
                        found.append(int(name))
                except OSError:
                    continue
        return found

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.processes():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            try:
                wait_until(lambda: not self.processes(), 10, f"the processes of {self.name} to end")
                break
            except AssertionError:
                continue
        if self.anchor is not None:
            self.anchor.kill()
            self.anchor.wait(timeout=10)
            self.anchor = None


class HostLab:
    """Hosts ``names`` (the first is the master's), each with private directories under ``tmp``;
    ``network=False``: in the machine's network namespace (to reach a server on its loopback);
    ``homes``: users whose home directory is the lab's own, one every host of the lab shares
    (an NFS home of this lab: a lab of another test run beside it writes to its own)."""

    def __init__(self, names: Sequence[str], tmp: Path, network: bool = True, homes: Sequence[str] = ()) -> None:
        self.tmp = tmp
        self.homes = list(homes)
        self.net = NetnsLab(names, prefix=f"h{os.getpid() % 1000}{next(_LABS)}") if network else None
        self.hosts = {name: Host(self, name) for name in names}
        self.notes: dict[str, str] = {}  # what a fixture wants its tests to know (tokens, ...)

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def home(self, user: str) -> Path:
        """Where ``user``'s home directory of this lab is seen from the test."""
        return self.tmp / "home" / user

    def up(self) -> HostLab:
        for inside in PRIVATE:  # a bind mount needs its mount point: made empty, and kept (see below)
            os.makedirs(inside, exist_ok=True)
        for user in self.homes:  # a fresh home, as useradd -m makes it
            entry = pwd.getpwnam(user)
            shutil.copytree("/etc/skel", self.home(user), symlinks=True)
            for path in [self.home(user), *self.home(user).rglob("*")]:
                os.lchown(path, entry.pw_uid, entry.pw_gid)
        if self.net is not None:
            self.net.up()
        try:
            for host in self.hosts.values():
                host.start()
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        for host in self.hosts.values():
            host.stop()
        if self.net is not None:
            self.net.down()
        # The mount points stay: removing one (rmdir of an empty /var/lib/qsys) also detaches the
        # bind mounts on it in every other mount namespace, so the hosts of a lab running beside
        # this one would write their cells to the machine's own /var/lib/qsys.
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> HostLab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

