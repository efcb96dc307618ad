"""Identities: peer credentials, the cluster key, signed credentials, user tokens.

Every connection to the master starts with a :class:`qsys.protocol.Challenge` carrying a
fresh nonce. On the Unix socket the kernel tells who the peer is (SO_PEERCRED). Over TCP the
client answers with a credential signed with the cluster key *over that nonce*, so a captured
credential cannot be replayed on another connection. Only holders of the key can sign: root
on a cluster host, or the owner of a personal cluster (key file mode 0600). Exec daemons
prove they hold the key the same way (``execd_proof``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import secrets
import socket
import struct
import time
from pathlib import Path
from typing import Any

from qsys.errors import AuthenticationError

KEY_BYTES = 32


def create_key(path: Path) -> bytes:
    """Write a new random cluster key readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.hex().encode() + b"\n")
    return key


def load_key(path: Path) -> bytes:
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise AuthenticationError(f"cannot read cluster key {path}: {exc}") from None


def _mac(key: bytes, *parts: bytes) -> bytes:
    h = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        h.update(struct.pack(">I", len(part)))
        h.update(part)
    return h.digest()


def execd_proof(key: bytes, nonce: bytes, host: str) -> bytes:
    """What an exec daemon sends to show it holds the cluster key."""
    return _mac(key, b"execd", nonce, host.encode())


def check_execd_proof(key: bytes, nonce: bytes, host: str, proof: bytes) -> None:
    if not hmac.compare_digest(execd_proof(key, nonce, host), proof):
        raise AuthenticationError(f"exec host {host} did not prove the cluster key")


def sign_credential(key: bytes, nonce: bytes, uid: int, host: str, user: str | None = None) -> dict[str, Any]:
    """A credential for ``uid`` on ``host`` valid for the connection that sent ``nonce``
    (``user``: the name to sign for, by default ``uid``'s; a simulation's users need none).
    """
    user = pwd.getpwuid(uid).pw_name if user is None else user
    sig = _mac(key, b"cred", nonce, str(uid).encode(), user.encode(), host.encode())
    return {"uid": uid, "user": user, "host": host, "sig": sig}


def verify_credential(key: bytes, nonce: bytes, cred: dict[str, Any]) -> tuple[int, str, str]:
    """(uid, user, host) of a valid credential, else AuthenticationError."""
    try:
        uid, user, host, sig = int(cred["uid"]), str(cred["user"]), str(cred["host"]), cred["sig"]
    except (KeyError, TypeError, ValueError):
        raise AuthenticationError("malformed credential") from None
    expected = _mac(key, b"cred", nonce, str(uid).encode(), user.encode(), host.encode())
    if not isinstance(sig, bytes) or not hmac.compare_digest(expected, sig):
        raise AuthenticationError("credential signature does not match")
    return uid, user, host


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket."""
    data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", data)
    return pid, uid, gid


def new_nonce() -> bytes:
    return secrets.token_bytes(16)


def new_token() -> str:
    """A one-time token (interactive sessions, job-local secrets)."""
    return secrets.token_urlsafe(24)


# ----------------------------------------------------------------------------- user tokens
# ``qsys token user`` (like Slurm's ``scontrol token``): a bearer token naming a uid and an
# expiry, signed with the cluster key; qsys-restd takes it over TCP as the caller's identity.
# Form: ``qsys1.<base64url "uid:user:expiry:random">.<base64url signature>``.

USER_TOKEN_PREFIX = "qsys1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_user_token(key: bytes, uid: int, ttl: float, now: float | None = None) -> str:
    """A token for ``uid`` valid ``ttl`` seconds from ``now``."""
    user = pwd.getpwuid(uid).pw_name
    expiry = int((time.time() if now is None else now) + ttl)
    body = f"{uid}:{user}:{expiry}:{secrets.token_hex(8)}".encode()
    return f"{USER_TOKEN_PREFIX}.{_b64(body)}.{_b64(_mac(key, b'user-token', body))}"


def verify_user_token(key: bytes, token: str, now: float | None = None) -> tuple[int, str, int]:
    """(uid, user, expiry) of a valid token; AuthenticationError says why one is not."""
    try:
        prefix, body_text, sig_text = token.split(".")
        body, sig = _unb64(body_text), _unb64(sig_text)
        uid_text, user, expiry_text, _random = body.decode().split(":")
        uid, expiry = int(uid_text), int(expiry_text)
    except (ValueError, UnicodeDecodeError):
        raise AuthenticationError("malformed token") from None
    if prefix != USER_TOKEN_PREFIX:
        raise AuthenticationError("malformed token")
    if not hmac.compare_digest(_mac(key, b"user-token", body), sig):
        raise AuthenticationError("token signature does not match")
    if expiry <= (time.time() if now is None else now):
        raise AuthenticationError(f"token expired at {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(expiry))}")
    try:
        known = pwd.getpwuid(uid).pw_name
    except KeyError:
        known = None
    if known != user:
        raise AuthenticationError(f"token names user {user} (uid {uid}), who is not that uid here")
    return uid, user, expiry
