"""Network namespaces as cluster hosts: one namespace per host, joined to the test's own
namespace by a veth pair (host side 10.231.N.1, namespace side 10.231.N.2)."""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


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
