"""The session API: ask the master for an interactive job, wait for its grant, connect.

Used by ``qrsh`` and ``qlogin``; other clients (``qrsh -inherit``) can reuse :func:`connect`
with a grant of their own::

    with Client() as client:
        job = submit(client, spec)            # Submitted (job_id, name); NotSchedulable for -now y
        grant = wait(client, job.job_id)      # SessionGrant: host, addresses, port, token, method, ...
    code = connect(grant, remote_command, pty=..., nostdin=...)

``connect`` runs the builtin client when the grant's command is builtin, ssh with the
session's own keys when its daemon is ``qsys-sshd`` (:mod:`qsys.startup.sshclient`), else it
executes the configured command with the method's extra arguments (and does not return).
"""

from __future__ import annotations

from collections.abc import Sequence

from qsys import protocol
from qsys.client import Client
from qsys.errors import QsysError
from qsys.jobspec import JobSpec
from qsys.remote import sshkeys
from qsys.remote.addresses import resolves
from qsys.startup import methods


def is_builtin(setting: str) -> bool:
    return setting.strip().lower() in ("", "builtin")


def submit(client: Client, spec: JobSpec) -> protocol.Submitted:
    return client.request(protocol.SessionSubmit(spec), protocol.Submitted)


def wait(client: Client, job_id: int) -> protocol.SessionGrant:
    sock = client._connect()
    old = sock.gettimeout()
    sock.settimeout(None)  # -now n may wait in the queue for a long time
    try:
        return client.request(protocol.SessionWait(job_id), protocol.SessionGrant)
    finally:
        sock.settimeout(old)


def connect(grant: protocol.SessionGrant, command: Sequence[str] = (), *, pty: bool = False,
            nostdin: bool = False, display: str = "") -> int:
    """Run the session of ``grant``; the remote exit status. ``display``: forward X11 to it
    (builtin and qsys-sshd; with another command method, X11 is that command's business,
    e.g. ssh -X)."""
    addresses = list(grant.addresses)
    if is_builtin(grant.command):
        from qsys.startup import builtin

        if resolves(grant.host):
            addresses.insert(0, grant.host)
        try:
            return builtin.run(addresses, grant.port, grant.token, pty=pty, nostdin=nostdin, display=display)
        except builtin.SessionRefused as exc:
            raise QsysError(f"error: builtin session to host {grant.host} failed: {exc}") from None
    host = methods.target_host(grant.host, addresses)
    if sshkeys.is_qsys_sshd(grant.daemon):
        from qsys.startup import sshclient

        return sshclient.run(grant.command, grant.method, host, grant.port, grant.token, list(command), pty=pty,
                             nostdin=nostdin, display=display)
    argv = methods.command_argv(grant.method, grant.command, host, grant.port, list(command))
    try:
        methods.exec_command(argv)
    except OSError as exc:
        raise QsysError(f"error: cannot execute {argv[0]}: {exc.strerror}") from None
    return 1  # not reached
