"""Who is asking qsys-restd: the kernel on the Unix socket, a signed token over TCP.

The HTTP protocol (``qsys.restd.server.PeerProtocol``) records, per connection, whether it
came over the Unix socket and which uid the kernel says is at the other end (SO_PEERCRED).
Over TCP the request must carry a token from ``qsys token user``: ``Authorization: Bearer``,
or the ``qsys_token`` cookie the dashboard's sign-in sets. A user name a request sends is
never read. Without a token, only read-only monitoring is served, and only when the cell
opens it (``restd_monitoring open``), as an unprivileged monitoring identity.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from typing import Any

from qsys import auth
from qsys.errors import AuthenticationError

PEER_STATE = "qsys_peer"  # key of the connection's peer facts in the ASGI scope's state
COOKIE = "qsys_token"


@dataclass(frozen=True)
class Caller:
    """A request's identity, as restd presents it to the master."""

    uid: int
    user: str
    via: str  # "unix" (kernel), "token" (bearer or cookie), "monitor" (open monitoring)
    expires: int | None = None  # a token's expiry (epoch seconds)


def monitor_caller() -> Caller:
    """The identity of open, token-less monitoring: ``nobody`` where it exists."""
    try:
        entry = pwd.getpwnam("nobody")
        return Caller(entry.pw_uid, entry.pw_name, "monitor")
    except KeyError:
        return Caller(os.getuid(), pwd.getpwuid(os.getuid()).pw_name, "monitor")


def bearer_token(headers: Any, cookies: Any) -> str | None:
    """The token of a request: the Authorization header wins over the dashboard's cookie."""
    header = headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("malformed Authorization header: expected 'Bearer <token>'")
        return token.strip()
    return cookies.get(COOKIE) or None


def identify(peer: dict[str, Any] | None, token: str | None, key: bytes, *, monitoring_open: bool,
             read_only: bool) -> Caller:
    """The caller of one request, or AuthenticationError saying why there is none."""
    if peer is None:
        raise AuthenticationError("the connection's peer is unknown")
    if peer.get("transport") == "unix":
        uid = int(peer["uid"])
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            raise AuthenticationError(f"uid {uid} has no user name on this host") from None
        return Caller(uid, name, "unix")
    if token is not None:
        uid, user, expires = auth.verify_user_token(key, token)
        return Caller(uid, user, "token", expires)
    if read_only and monitoring_open:
        return monitor_caller()
    raise AuthenticationError("a request over TCP needs a token: get one with 'qsys token user'")
