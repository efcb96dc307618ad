"""Exec hosts in network namespaces for cluster tests.

``NetnsLab``: a bridge in the test's namespace and a
veth into one namespace per host, each with its own address and an ``/etc/netns/<ns>/hosts``
naming every host (``ip netns exec`` mounts it as the namespace's /etc/hosts).

The master stays in the test's namespace; exec daemons reach it over its Unix socket (a path
in the shared file system), jobs reach each other over the bridge.

``create``/``destroy``: one namespace joined to the test's own namespace by a veth pair
(host side 10.231.N.1, namespace side 10.231.N.2)."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qsys.testing.waiting import wait_until

if TYPE_CHECKING:
    from tests.clusterlib import Cluster


def _ip(*args: str, ns: str | None = None) -> None:
    argv = ["ip", *args] if ns is None else ["ip", "netns", "exec", ns, "ip", *args]
    subprocess.run(argv, check=True, capture_output=True)


class NetnsLab:
    """Namespaces ``<prefix><host>`` on a bridge ``<prefix>br`` (names short: IFNAMSIZ is 16)."""

    def __init__(self, hosts: Sequence[str], prefix: str | None = None) -> None:
        self.hosts = list(hosts)
        self.prefix = prefix or f"q{os.getpid() % 10000}"
        self.subnet = f"10.{random.randint(100, 199)}.{random.randint(1, 254)}"
        self.bridge = f"{self.prefix}br"
        self.addresses = {host: f"{self.subnet}.{i + 2}" for i, host in enumerate(self.hosts)}

    def ns(self, host: str) -> str:
        return f"{self.prefix}{host}"

    def up(self) -> NetnsLab:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        hosts_file = "127.0.0.1 localhost\n" + "".join(f"{a} {h}\n" for h, a in self.addresses.items())
        for i, host in enumerate(self.hosts):
            ns, outer, inner = self.ns(host), f"{self.prefix}h{i}", f"{self.prefix}n{i}"
            _ip("netns", "add", ns)
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            _ip("link", "set", inner, "netns", ns)
            _ip("link", "set", outer, "master", self.bridge, "up")
            _ip("addr", "add", f"{self.addresses[host]}/24", "dev", inner, ns=ns)
            _ip("link", "set", inner, "up", ns=ns)
            _ip("link", "set", "lo", "up", ns=ns)
            etc = Path("/etc/netns") / ns
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text(hosts_file)
        return self

    def set_link(self, host: str, up: bool) -> None:
        """Bring ``host``'s network interface down (the host is cut off) or up again."""
        inner = f"{self.prefix}n{self.hosts.index(host)}"
        _ip("link", "set", inner, "up" if up else "down", ns=self.ns(host))

    def down(self) -> None:
        for i, host in enumerate(self.hosts):
            # the host side first: it takes the pair with it at once, even while the kernel
            # keeps a deleted namespace a while longer (sockets closing), so names are free
            subprocess.run(["ip", "link", "del", f"{self.prefix}h{i}"], capture_output=True)
            ns = self.ns(host)
            # busy while a process that entered it (ip netns exec) is still on its way out;
            # one still busy after 10 s is left to the kernel (cleanup goes on with the others)
            with contextlib.suppress(AssertionError):
                wait_until(lambda ns=ns: _deleted(ns), 10, f"namespace {ns} to be deleted", interval=0.2)
            shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)

    def __enter__(self) -> NetnsLab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()


def _deleted(ns: str) -> bool:
    """Delete namespace ``ns``; whether it is gone."""
    done = subprocess.run(["ip", "netns", "del", ns], capture_output=True).returncode == 0
    return done or not os.path.exists(f"/run/netns/{ns}")


def start_execd(cluster: Cluster, host: str, ns: str) -> None:
    """Start ``host``'s exec daemon in namespace ``ns`` with a UTS namespace of its own whose
    host name is ``host`` (MPI libraries tell nodes apart by gethostname())."""
    import sys

    argv = [sys.executable, "-m", "execd.main", "--foreground", "--host", host]
    argv = ["ip", "netns", "exec", ns, "unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', host, *argv]
    log = open(cluster.root / f"execd-{host}.out", "ab")  # noqa: SIM115
    cluster.execd_procs[host] = subprocess.Popen(argv, env=cluster.env, stdout=log, stderr=log, cwd="/")


@dataclass
class Namespace:
    name: str
    outer: str  # address of the test's side of the veth pair
    inner: str  # address inside the namespace


_counter = 0
_BASE = secrets.randbelow(250)


def create(label: str) -> Namespace:
    """A new namespace with loopback up and a veth link to this one."""
    global _counter
    _counter += 1
    net = (_BASE + _counter) % 250 + 1  # distinct for the namespaces of one test run
    name = f"qs{secrets.token_hex(4)}{label}"[:13]  # unique: a deleted namespace lingers a while
    outer, inner = f"10.231.{net}.1", f"10.231.{net}.2"
    veth_out, veth_in = f"{name}o"[:15], f"{name}i"[:15]
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("link", "add", veth_out, "type", "veth", "peer", "name", veth_in, "netns", name)
        _ip("addr", "add", f"{outer}/24", "dev", veth_out)
        _ip("link", "set", veth_out, "up")
        _ip("-n", name, "addr", "add", f"{inner}/24", "dev", veth_in)
        _ip("-n", name, "link", "set", veth_in, "up")
    except subprocess.CalledProcessError:
        destroy(Namespace(name, outer, inner))
        raise
    return Namespace(name, outer, inner)


def destroy(ns: Namespace) -> None:
    """Remove the namespace (its end of the veth pair takes the other end with it)."""
    subprocess.run(["ip", "netns", "delete", ns.name], check=False, capture_output=True)
