"""Identities: peer credentials, the cluster key, host secrets, signed credentials, tokens.

Every connection to the master starts with a :class:`qsys.protocol.Challenge` carrying a
fresh nonce. On the Unix socket the kernel tells who the peer is (SO_PEERCRED). Over TCP the
client answers with a credential signed *over that nonce*, so a captured credential cannot be
replayed on another connection. Exec daemons prove a key the same way (``execd_proof``),
bound also to the master's TLS certificate, so a proof relayed through another server fails.

Two kinds of key sign:

* the cluster key (``common/cluster.key``): the master's own, on the master host only (root's
  in service mode, the owner's in a personal cell); what it signs is trusted for any host;
* a host secret (``common/host.secret`` of a joined host): derived by the master from the
  cluster key, the host's name and a serial (``host_secret``), handed to the host once when
  it joins (``qsys join``) and never stored by the master. It proves that host and no other:
  the master checks a proof or credential naming host B with B's secret only. Revoking a host
  (``qconf -de``) retires its serial; joining again gives a new one.

Join tokens (``qsys token create``) are one-time: ``qsysjoin1.<id>.<secret>.<ca>``; the
master keeps only the SHA-256 of the secret, and ``<ca>`` pins the cell CA's certificate so
the joining host knows it talks to the real master before it sends the secret.
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


def execd_proof(key: bytes, nonce: bytes, host: str, binding: bytes = b"") -> bytes:
    """What an exec daemon sends to show it holds ``key`` (the cluster key or its host
    secret); ``binding`` is the SHA-256 of the master's TLS certificate (empty on a Unix
    socket), so the proof is good only on a connection that ends at the real master."""
    return _mac(key, b"execd", nonce, host.encode(), binding)


def proves(key: bytes, nonce: bytes, host: str, proof: bytes, binding: bytes = b"") -> bool:
    return isinstance(proof, bytes) and hmac.compare_digest(execd_proof(key, nonce, host, binding), proof)


def check_execd_proof(key: bytes, nonce: bytes, host: str, proof: bytes, binding: bytes = b"") -> None:
    if not proves(key, nonce, host, proof, binding):
        raise AuthenticationError(f"exec host {host} did not prove the cluster key")


def host_secret(cluster_key: bytes, host: str, serial: int) -> bytes:
    """The secret of ``host`` under its current ``serial``: the master derives it whenever it
    needs it, so no store or backup holds it."""
    return _mac(cluster_key, b"host-secret", host.encode(), str(serial).encode())


def write_secret(path: Path, secret: bytes) -> None:
    """Write a key or secret (hex, mode 0600) atomically: a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret.hex().encode() + b"\n")
    tmp.replace(path)


def sign_credential(key: bytes, nonce: bytes, uid: int, host: str, user: str | None = None) -> dict[str, Any]:
    """A credential for ``uid`` on ``host`` valid for the connection that sent ``nonce``
    (``user``: the name to sign for, by default ``uid``'s; a simulation's users need none).
    """
    if user is None:
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            raise AuthenticationError(f"uid {uid} has no user name on this host") from None
    sig = _mac(key, b"cred", nonce, str(uid).encode(), user.encode(), host.encode())
    return {"uid": uid, "user": user, "host": host, "sig": sig}


def credential_fields(cred: Any) -> tuple[int, str, str, bytes]:
    """(uid, user, host, signature) of a credential map, unchecked; AuthenticationError when
    it is not one."""
    try:
        uid, user, host, sig = int(cred["uid"]), str(cred["user"]), str(cred["host"]), cred["sig"]
    except (KeyError, TypeError, ValueError):
        raise AuthenticationError("malformed credential") from None
    if not isinstance(sig, bytes):
        raise AuthenticationError("malformed credential")
    return uid, user, host, sig


def verify_credential(key: bytes, nonce: bytes, cred: dict[str, Any]) -> tuple[int, str, str]:
    """(uid, user, host) of a valid credential, else AuthenticationError."""
    uid, user, host, sig = credential_fields(cred)
    expected = _mac(key, b"cred", nonce, str(uid).encode(), user.encode(), host.encode())
    if not hmac.compare_digest(expected, sig):
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


# ----------------------------------------------------------------------------- join tokens

JOIN_TOKEN_PREFIX = "qsysjoin1"
CA_PIN_CHARS = 32  # hex digits of the CA certificate's SHA-256 a join token carries


class JoinToken:
    """A parsed join token: its id (shown by ``qsys token list``), secret and CA pin."""

    __slots__ = ("id", "secret", "ca_pin")

    def __init__(self, token_id: str, secret: str, ca_pin: str) -> None:
        self.id, self.secret, self.ca_pin = token_id, secret, ca_pin

    def __str__(self) -> str:
        return f"{JOIN_TOKEN_PREFIX}.{self.id}.{self.secret}.{self.ca_pin}"

    @classmethod
    def new(cls, ca_fingerprint: str) -> JoinToken:
        return cls(secrets.token_hex(4), secrets.token_urlsafe(24), ca_fingerprint[:CA_PIN_CHARS])

    @classmethod
    def parse(cls, text: str) -> JoinToken:
        parts = text.strip().split(".")
        if len(parts) != 4 or parts[0] != JOIN_TOKEN_PREFIX or not all(parts[1:]):
            raise AuthenticationError(f"not a join token (they look like {JOIN_TOKEN_PREFIX}.ID.SECRET.CA,"
                                      " from 'qsys token create' on the master)")
        return cls(parts[1], parts[2], parts[3].lower())


def token_digest(secret: str) -> str:
    """What the master keeps of a join token's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def digest_matches(secret: str, digest: str) -> bool:
    return hmac.compare_digest(token_digest(secret), digest)
