"""``qsys join MASTER[:PORT] --token T``: a host joins the cell of the master at MASTER (qsys(8)).

1. The CA: over TLS not yet verified, the master's CA certificate is fetched and checked
   against the fingerprint the token pins (a wrong master, or someone in between, is refused
   before anything secret is sent), and against MASTER: the master's certificate must be
   valid for the name the host will connect to.
2. The join: over TLS verified with that CA, the token, the host's name and a certificate
   request for a key made here (the key never leaves the host). The master answers with the
   host's secret and certificate (see ``qsys.master.membership``).
3. The cell: bootstrap (``mode service``, the master, ``host_name``, ``joined_as``, ``tls
   yes``, and the master's ``master_candidates`` when it has them), ``ca.pem``, ``host.pem``/``host.key``, ``host.secret`` (root only). Nothing is
   copied from another host by hand.
4. The host: the commands on the system PATH and the pages in the manpath, the unit of its
   daemon (``qsys-execd``, or ``qsys-authd`` for ``--submit-only``), the daemon (re)started,
   and, for an exec host, a wait until the master lists it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

from qsys import auth, install, protocol
from qsys.errors import AuthenticationError, ConnectionFailed, QsysError, UsageError, error_from_wire
from qsys.paths import DEFAULT_PORT, Cell

Echo = Callable[[str], None]
TIMEOUT = 20.0


def parse_master(text: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` -> (host, port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not host or (port and not port.isdigit()):
        raise UsageError(f"MASTER is HOST or HOST:PORT, not {text!r}")
    return host, int(port) if port else DEFAULT_PORT


def _exchange(sock: Any, msg: Any, expect: type) -> Any:
    challenge = protocol.recv_sync(sock)
    if not isinstance(challenge, protocol.Challenge):
        raise ConnectionFailed("error: the master did not greet as expected")
    protocol.send_sync(sock, msg)
    reply = protocol.recv_sync(sock)
    if isinstance(reply, protocol.Fail):
        raise error_from_wire(reply.kind, reply.message)
    if not isinstance(reply, expect):
        raise QsysError(f"error: the master answered {type(reply).__name__}")
    return reply


def _connect(host: str, port: int, ctx: Any) -> Any:
    from qsys import tls

    try:
        return tls.wrap(socket.create_connection((host, port), timeout=TIMEOUT), ctx, host)
    except OSError as exc:
        raise ConnectionFailed(f'error: unable to contact qmaster using port {port} on host "{host}": {exc}') from None


def fetch_ca(host: str, port: int, token: auth.JoinToken) -> protocol.CaCert:
    """The master's CA, checked against the token's pin and the name ``host``."""
    from qsys import certs, tls

    sock = _connect(host, port, tls.unverified_context())
    try:
        reply: protocol.CaCert = _exchange(sock, protocol.CaRequest(), protocol.CaCert)
    finally:
        sock.close()
    if not certs.fingerprint(reply.ca.encode()).startswith(token.ca_pin):
        raise AuthenticationError(f"error: the master at {host}:{port} shows a CA other than the one the token "
                                  "names: not joining (a wrong master, or someone in between)")
    if host not in reply.master_names:
        raise AuthenticationError(f"error: the master's certificate is not valid for {host} (it is for "
                                  f"{', '.join(reply.master_names)}): join with one of these names, or add "
                                  f"{host} with qsys init --name {host} on the master")
    return reply


def request_join(cell: Cell, host: str, port: int, msg: protocol.JoinRequest) -> protocol.JoinGrant:
    from qsys import tls

    sock = _connect(host, port, tls.client_context(cell))
    try:
        grant: protocol.JoinGrant = _exchange(sock, msg, protocol.JoinGrant)
        return grant
    finally:
        sock.close()


def join(cell: Cell, master: str, token_text: str, *, host: str | None, submit_only: bool, systemd: bool,
         start: bool, echo: Echo) -> None:
    from qsys import certs, cluster

    address, port = parse_master(master)  # a usage error first
    token = auth.JoinToken.parse(token_text)
    if os.geteuid() != 0:
        raise QsysError("qsys join must run as root (the host's secret and daemon are root's)")
    old = cell.bootstrap()
    if old and not old.get("host_name"):
        raise QsysError(f"{cell.dir} is the cell of a master host ({old.get('mode', 'personal')} mode): "
                        "a master's own exec daemon uses the cluster key (start qsys-execd there)")
    name = host or socket.gethostname().split(".")[0]
    ca = fetch_ca(address, port, token)
    cell.common.mkdir(parents=True, exist_ok=True)
    os.chmod(cell.dir, 0o755)
    certs.write_public(cell.ca_cert, ca.ca.encode())
    csr, key = certs.request(name)
    grant = request_join(cell, address, port, protocol.JoinRequest(
        token.id, token.secret, name, csr.decode(), submit_only, os.cpu_count() or 1))
    daemon = "execd" if grant.exec_host else "authd"
    stopped = cluster.stop_local(cell, daemon)  # it proved the old secret: it starts anew below
    certs.write_private(cell.host_key, key)
    certs.write_public(cell.host_cert, grant.certificate.encode())
    auth.write_secret(cell.host_secret, grant.secret)
    boot = {"mode": "service", "master_host": address, "master_port": str(port), "host_name": grant.host,
            "joined_as": "exec" if grant.exec_host else "submit", "tls": "yes"}
    if grant.master_candidates:  # a cell with failover: the host finds whichever master is active
        boot["master_candidates"] = grant.master_candidates
    cell.write_bootstrap(boot)
    echo(f"joined the cell of {address}:{port} as {'exec' if grant.exec_host else 'submit'} host {grant.host} "
         f"(secret serial {grant.serial}; {cell.dir})")
    if stopped:
        echo(f"stopped the old {daemon} ({stopped})")
    for line in install.link_system_commands():
        echo(line)
    from qsys.cellinit import start_units

    start_units(cell, [f"qsys-{daemon}.service"], systemd=systemd, start=start, echo=echo,
                direct=lambda: cluster.start(cell))
    if start and grant.exec_host:
        wait_listed(cell, grant.host)
        echo(f"the master lists exec host {grant.host}")


def wait_listed(cell: Cell, host: str, timeout: float = TIMEOUT) -> None:
    """Until the master reports ``host`` with a load (its exec daemon registered)."""
    from qsys.client import Client

    deadline = time.monotonic() + timeout
    error = ""
    while time.monotonic() < deadline:
        try:
            with Client(cell, timeout=5.0) as client:
                if any(h["name"] == host and h.get("load") is not None for h in client.hosts()):
                    return
        except QsysError as exc:
            error = f" ({exc})"
        time.sleep(0.1)
    raise QsysError(f"the exec daemon of {host} did not register within {timeout:.0f}s{error}; "
                    f"see {cell.execd_spool(host) / 'messages'}")
