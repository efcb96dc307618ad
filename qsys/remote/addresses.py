"""The IP addresses of this host (of the network namespace the caller runs in).

The master grants a daemon-method session to the addresses of the client's host; an exec
daemon tells the master where its session ports can be reached. Both read the kernel's
tables in /proc (the standard library has no getifaddrs), which are per network namespace.
"""

from __future__ import annotations

import socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def _ipv4() -> list[str]:
    found: list[str] = []
    try:
        with open("/proc/net/fib_trie", encoding="ascii") as f:
            lines = f.read().splitlines()
    except OSError:
        return found
    last = ""
    for line in lines:
        text = line.strip()
        if text.startswith(("|--", "+--")):
            last = text[3:].strip().split("/")[0]
        elif text == "/32 host LOCAL" and last and last not in found:
            found.append(last)
    return found


def _ipv6() -> list[str]:
    import ipaddress

    found: list[str] = []
    try:
        with open("/proc/net/if_inet6", encoding="ascii") as f:
            for line in f:
                raw = line.split()[0]
                addr = str(ipaddress.IPv6Address(bytes.fromhex(raw)))
                if not addr.startswith("fe80") and addr not in found:
                    found.append(addr)
    except (OSError, ValueError, IndexError):
        pass
    return found


def _primary() -> list[str]:
    """The source address of the default route, if there is one (no packet is sent)."""
    found = []
    for family, target in ((socket.AF_INET, "198.51.100.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((target, 9))
                found.append(str(probe.getsockname()[0]))
        except OSError:
            continue
    return found


def local_addresses() -> list[str]:
    """Every address of this host: the default route's first, then the others, loopback last
    (a client tries them in this order)."""
    import ipaddress

    addrs = _ipv4() + _ipv6()
    primary = [a for a in _primary() if a in addrs]
    rest = sorted((a for a in addrs if a not in primary), key=lambda a: ipaddress.ip_address(a).is_loopback)
    return primary + rest


def normalize(address: str) -> str:
    """``::ffff:10.0.0.1`` -> ``10.0.0.1`` (a dual-stack listener reports mapped addresses)."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def lookup_name(host: str) -> str | bytes:
    """``host`` as the resolver is asked for it: an ASCII name as bytes, which the socket
    module passes on as they are (a str goes through the idna codec, whose import with re
    and stringprep cost a qrsh ~2.5 ms)."""
    return host.encode("ascii") if host.isascii() else host


def resolves(host: str) -> bool:
    """Does ``host`` have an address in the resolver (hosts file, DNS)?"""
    try:
        socket.getaddrinfo(lookup_name(host), None)
        return True
    except OSError:
        return False


def resolves_to(host: str, addresses: Sequence[str]) -> bool:
    """Does ``host`` resolve to one of ``addresses`` (any address when none are given)?"""
    try:
        found = {normalize(str(info[4][0])) for info in socket.getaddrinfo(lookup_name(host), None)}
    except OSError:
        return False
    return not addresses or bool(found & {normalize(a) for a in addresses})


def routable(address: str) -> bool:
    """Would the kernel route a packet to ``address`` from here (no packet is sent)?"""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((address, 9))
        return True
    except OSError:
        return False


def route_source(address: str) -> str | None:
    """The local address the kernel would send from to reach ``address`` (None: no route)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((address, 9))
            return normalize(str(probe.getsockname()[0]))
    except OSError:
        return None


def serving_address(grant: list[str]) -> str | None:
    """The one local address a session port for a client at ``grant`` (the addresses of the
    client's host) needs: loopback when the client runs on this host, else the address facing
    it; None when the client's addresses lead out of several of ours (then every address)."""
    import ipaddress

    def loopback(address: str) -> bool:
        try:
            return ipaddress.ip_address(address).is_loopback
        except ValueError:
            return False

    mine = set(local_addresses())
    granted = [normalize(a) for a in grant]
    if not granted or any(a in mine and not loopback(a) for a in granted):
        return "127.0.0.1" if "127.0.0.1" in mine or not mine else ("::1" if "::1" in mine else None)
    sources = {s for s in (route_source(a) for a in granted if not loopback(a)) if s}
    if not sources and all(loopback(a) for a in granted):
        sources = {"127.0.0.1" if "127.0.0.1" in mine else "::1"}
    return sources.pop() if len(sources) == 1 else None
