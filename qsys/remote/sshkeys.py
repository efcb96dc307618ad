"""The qsys-sshd method, the parts both ends share: the daemon value and the session's keys.

``rsh_daemon qsys-sshd`` (also ``rlogin_daemon``/``qlogin_daemon``; any path whose last part
is ``qsys-sshd``) makes the exec daemon start its own SSH server per session
(:mod:`execd.sshd`), and the client run the stock OpenSSH ``ssh`` (:mod:`qsys.startup.sshclient`).
No key is made, stored or sent: both ends already share the session's one-time token (the
master put it into the job's Launch and into the owner's grant), and derive from it

* the client key: an Ed25519 key whose seed is HMAC-SHA256(token, ``qsys-ssh-client``),
  the only key the daemon accepts;
* the host key: the same with ``qsys-ssh-host``, the only key the client trusts.

Neither key reveals the token, nor the one the other. ``cryptography`` is imported by the
functions that need it only (hashlib too), so a builtin ``qrsh`` never loads it.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and shlex (with re and enum) cost a builtin qrsh ~8 ms
    from typing import Any

DAEMON_NAME = "qsys-sshd"
CLIENT_LABEL = b"qsys-ssh-client"
HOST_LABEL = b"qsys-ssh-host"
HOST_ALIAS = "qsys-session"  # the name the client looks the host key up by (any host, any port)


def is_qsys_sshd(setting: object) -> bool:
    """Whether a ``*_daemon`` value names the per-job SSH daemon."""
    import shlex

    words = shlex.split(str(setting or ""))
    return bool(words) and os.path.basename(words[0]) == DAEMON_NAME


def seed(token: str, label: bytes) -> bytes:
    import hashlib
    import hmac

    return hmac.new(token.encode(), label, hashlib.sha256).digest()


def _private_key(token: str, label: bytes) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(seed(token, label))


def private_openssh(token: str, label: bytes) -> bytes:
    """The private key in OpenSSH's own format (what ``ssh -i`` and asyncssh read)."""
    from cryptography.hazmat.primitives import serialization

    return bytes(_private_key(token, label).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))


def public_openssh(token: str, label: bytes) -> str:
    """``ssh-ed25519 AAAA...``: one line of authorized_keys or known_hosts."""
    from cryptography.hazmat.primitives import serialization

    return str(_private_key(token, label).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode())


def known_hosts_line(token: str) -> str:
    return f"{HOST_ALIAS} {public_openssh(token, HOST_LABEL)}\n"
