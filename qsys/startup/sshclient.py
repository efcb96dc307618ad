"""The client of the qsys-sshd method: the stock OpenSSH ``ssh`` with the session's own keys.

When the grant's daemon is ``qsys-sshd`` (:mod:`qsys.remote.sshkeys`), qrsh, qlogin and
qrsh -inherit write the session's client key (mode 0600) and a known_hosts line for its host
key into a private temporary directory, and run the configured ``*_command`` (an OpenSSH
client, options of its own allowed) with::

    -i KEY -o IdentitiesOnly=yes -o IdentityAgent=none -o UserKnownHostsFile=FILE
    -o GlobalKnownHostsFile=/dev/null -o HostKeyAlias=qsys-session -o StrictHostKeyChecking=yes
    -o BatchMode=yes -o ControlPath=none -o UpdateHostKeys=no -o LogLevel=ERROR -l USER
    -tt (a pty) or -T, -Y (with -X and a DISPLAY)

then the method's arguments: rsh ``[-n] -p PORT HOST cmd`` (``-n`` only with -nostdin, so
stdin reaches the command as with builtin), rlogin ``-p PORT HOST``, qlogin ``-p PORT HOST``
for ssh itself and ``HOST PORT`` for a wrapper (qlogin_wrapper swaps them). Options written
in the setting come first, and ssh takes the first value of an option.

It waits for ssh rather than becoming it, so the key is removed when ssh ends. Meanwhile it
ignores SIGINT and SIGQUIT, as system() does (with a pty they travel as bytes to the remote
terminal; without one ssh ends and the daemon hangs the session up), passes SIGTERM and
SIGHUP on, and stops when ssh stops (``~^Z``). The exit status is ssh's: the remote one,
128+n after signal n, 255 when ssh failed.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import tempfile
from collections.abc import Sequence

from qsys.errors import QsysError
from qsys.remote import sshkeys

SSH_OPTIONS = ("IdentitiesOnly=yes", "IdentityAgent=none", "GlobalKnownHostsFile=/dev/null",
               f"HostKeyAlias={sshkeys.HOST_ALIAS}", "StrictHostKeyChecking=yes", "BatchMode=yes",
               "ControlPath=none", "UpdateHostKeys=no", "LogLevel=ERROR")


def method_arguments(method: str, program: str, host: str, port: int, command: Sequence[str],
                     nostdin: bool) -> list[str]:
    """The arguments of ``method``'s convention, as this method passes them to ssh."""
    if method == "rsh":
        return [*(["-n"] if nostdin else []), "-p", str(port), host, *command]
    if method == "rlogin" or (method == "qlogin" and os.path.basename(program) == "ssh"):
        return ["-p", str(port), host]
    if method == "qlogin":
        return [host, str(port)]
    raise ValueError(f"unknown startup method {method!r}")


def ssh_argv(setting: str, method: str, host: str, port: int, key: str, known_hosts: str,
             command: Sequence[str] = (), *, pty: bool = False, nostdin: bool = False,
             display: str = "") -> list[str]:
    base = shlex.split(setting)
    if not base:
        raise ValueError(f"empty {method}_command")
    options = ["-i", key, "-o", f"UserKnownHostsFile={known_hosts}"]
    for option in SSH_OPTIONS:
        options += ["-o", option]
    options += ["-l", pwd.getpwuid(os.getuid()).pw_name, "-tt" if pty else "-T"]
    if display:
        options.append("-Y")  # the remote end gets the display as builtin's -X gives it
    return [*base, *options, *method_arguments(method, base[0], host, port, command, nostdin)]


def run(setting: str, method: str, host: str, port: int, token: str, command: Sequence[str] = (), *,
        pty: bool = False, nostdin: bool = False, display: str = "") -> int:
    """Run the session through ssh; its exit status."""
    tmp = tempfile.mkdtemp(prefix="qsys-ssh-")  # mode 0700
    try:
        key = os.path.join(tmp, "id_ed25519")
        known_hosts = os.path.join(tmp, "known_hosts")
        _write(key, sshkeys.private_openssh(token, sshkeys.CLIENT_LABEL))
        _write(known_hosts, sshkeys.known_hosts_line(token).encode())
        argv = ssh_argv(setting, method, host, port, key, known_hosts, command, pty=pty, nostdin=nostdin,
                        display=display)
        return _wait(_start(argv))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _start(argv: list[str]) -> int:
    """Fork and exec ssh; QsysError when it cannot run (its errno comes back on a pipe)."""
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(err_r)
            os.execvp(argv[0], argv)
        except OSError as exc:
            os.write(err_w, str(exc.errno or 0).encode())
        os._exit(127)
    os.close(err_w)
    with os.fdopen(err_r, "rb") as pipe:
        failed = pipe.read()
    if failed:
        os.waitpid(pid, 0)
        raise QsysError(f"error: cannot execute {argv[0]}: {os.strerror(int(failed))}")
    return pid


def _wait(pid: int) -> int:
    def forward(signum: int, _frame: object) -> None:
        os.kill(pid, signum)

    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGQUIT)}
    saved.update({sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)})
    try:
        while True:
            _, status = os.waitpid(pid, os.WUNTRACED)
            if not os.WIFSTOPPED(status):
                break
            os.kill(os.getpid(), signal.SIGSTOP)  # ssh stopped (~^Z): so do we, until fg
            os.kill(pid, signal.SIGCONT)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code
