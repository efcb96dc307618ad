"""TLS on the master's TCP port: the contexts, and the one place a stream is wrapped.

A cell whose bootstrap says ``tls yes`` (what ``qsys init``, ``qsys join`` and ``qsys up``
write) speaks only TLS on the master's TCP port: commands, exec daemons and qsys-restd verify
the master's certificate against the cell CA (``common/ca.pem``) and the name they connect
to; exec daemons and submit hosts present their own certificate (``common/host.pem``), which
the master checks against the name the host proves with its secret. The Unix socket stays
plain: the kernel vouches for both ends there, and a command on it never imports ``ssl``.

Replay and forgery: every connection starts with a fresh challenge, and what a peer signs
covers it (``qsys.auth``); an exec daemon's proof also covers the SHA-256 of the master's
certificate (``binding``), so it is worthless on a connection that does not end at the master.
Inside a connection TLS numbers and authenticates every record, so a frame cannot be injected,
replayed or changed.
"""

from __future__ import annotations

import hashlib
import ssl
from typing import Any

from qsys.errors import ConnectionFailed
from qsys.paths import Cell

HANDSHAKE_TIMEOUT = 10.0


def enabled(boot: dict[str, str]) -> bool:
    """Whether the cell's master speaks TLS on its TCP port."""
    return boot.get("tls", "no").strip().lower() in ("yes", "true", "1")


def server_context(cell: Cell) -> ssl.SSLContext:
    """The master's: its certificate, client certificates verified when one is sent."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cell.host_cert, cell.host_key)
    ctx.load_verify_locations(cafile=str(cell.ca_cert))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def client_context(cell: Cell, *, with_certificate: bool = False) -> ssl.SSLContext:
    """A client's: the master's certificate verified against the cell CA and the name
    connected to; with ``with_certificate`` (a joined host's exec daemon) this host's client
    certificate presented too. Commands present none: their credential says who they are."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_verify_locations(cafile=str(cell.ca_cert))
    except OSError as exc:
        raise ConnectionFailed(f"error: cannot read the cell CA {cell.ca_cert}: {exc.strerror}") from None
    if with_certificate:
        ctx.load_cert_chain(cell.host_cert, cell.host_key)
    return ctx


def unverified_context() -> ssl.SSLContext:
    """Only for fetching the CA certificate at join, which the caller then checks against the
    fingerprint its join token carries; nothing secret travels on such a connection."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def wrap(sock: Any, ctx: ssl.SSLContext, server_hostname: str) -> ssl.SSLSocket:
    """A connected plain socket as TLS (synchronous clients). A certificate that does not
    verify is ConnectionFailed saying why (trying again would not help); a handshake broken
    off is the OSError it is (a master restarting: the caller may try again)."""
    try:
        return ctx.wrap_socket(sock, server_hostname=server_hostname)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise ConnectionFailed(f"error: the master's certificate is not valid for {server_hostname}: "
                               f"{exc.verify_message}") from None
    except OSError:
        sock.close()
        raise


def fingerprint(der: bytes) -> bytes:
    return hashlib.sha256(der).digest()


def own_binding(cell: Cell) -> bytes:
    """The master's certificate as its exec daemons bind their proofs to it."""
    return fingerprint(ssl.PEM_cert_to_DER_cert(cell.host_cert.read_text()))


def peer_binding(transport_info: Any) -> bytes:
    """The same, as a client sees it: the certificate of the server it is connected to
    (``ssl_object`` of an asyncio stream, or an SSLSocket); empty when not TLS."""
    if transport_info is None:
        return b""
    der = transport_info.getpeercert(binary_form=True)
    return fingerprint(der) if der else b""


def peer_common_name(writer: Any) -> str | None:
    """The common name of the verified client certificate of a server-side stream, if any."""
    cert = writer.get_extra_info("peercert")
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def is_tls(writer: Any) -> bool:
    return writer.get_extra_info("ssl_object") is not None
