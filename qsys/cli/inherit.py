"""``qrsh -inherit [-nostdin] [-noshell] [-V] host command [args]``: a task of the current
parallel job on one of its granted hosts, straight to that host's exec daemon.

Only inside a job: JOB_ID names it, and ``QSYS_PE_TOKEN``/``QSYS_PE_HOSTS`` (set by the
job's shepherd when its PE has control_slaves TRUE) give its token and where the exec daemons
of its granted hosts listen, ``QSYS_RSH_COMMAND`` this host's rsh_command. The master is not
asked (the exec daemon tells it). With the builtin method the client relays stdin/stdout/stderr
with the builtin session protocol; when the target's rsh_daemon is a daemon, its exec daemon
answers with a port and the client becomes ``rsh_command -n -p PORT HOST command``. Either way
it exits with the task's exit status. A host not granted to the job is an error before any connection is made; the exec
daemon checks again and refuses with its reason.
"""

from __future__ import annotations

import os
import socket
import struct
import sys

from qsys.cli.engine import HELP, Option, OptionTable
from qsys.cli.engine import parse as engine_parse
from qsys.errors import PermissionDenied, QsysError, UsageError

REFUSED = 1  # the exit code when the task never started (qrsh(1))


def _flag(state: dict[str, bool], name: str, values: list[str]) -> None:
    state[name.lstrip("-")] = True


INHERIT_OPTIONS = OptionTable("qrsh -inherit", [
    HELP,
    Option("-inherit", "run a task of the current parallel job (JOB_ID) on a granted host", _flag),
    Option("-noshell", "run the command without a shell around it", _flag),
    Option("-nostdin", "do not pass standard input on", _flag),
    Option("-V", "pass the whole environment and the working directory on", _flag),
    Option("-verbose", None, _flag),
], "hostname command [command_args]")


def parse(argv: list[str]) -> tuple[dict[str, bool], str, list[str]]:
    flags = {"inherit": False, "nostdin": False, "noshell": False, "V": False, "verbose": False}
    rest = engine_parse(argv, INHERIT_OPTIONS, flags)
    if len(rest) < 2:
        raise UsageError(INHERIT_OPTIONS.usage().rstrip())
    return flags, rest[0], rest[1:]


def granted_hosts(text: str) -> dict[str, tuple[list[str], int]]:
    """``QSYS_PE_HOSTS``: ``host=addr,addr:port`` words."""
    out: dict[str, tuple[list[str], int]] = {}
    for word in text.split():
        host, _, where = word.partition("=")
        addrs, _, port = where.rpartition(":")
        if host and port.isdigit():
            out[host] = ([a for a in addrs.split(",") if a], int(port))
    return out


def main_body(argv: list[str]) -> int:
    from qsys.remote import wire
    from qsys.startup import builtin

    flags, host, command = parse(argv)
    env = os.environ
    job_id = env.get("JOB_ID", "")
    if not job_id.isdigit():
        raise QsysError("error: qrsh -inherit works only inside a job (JOB_ID is not set)")
    token = env.get("QSYS_PE_TOKEN", "")
    if not token:
        raise PermissionDenied(f"error: job {job_id} may not start tasks with qrsh -inherit "
                               "(not a parallel job whose PE has control_slaves TRUE)")
    hosts = granted_hosts(env.get("QSYS_PE_HOSTS", ""))
    short = host.split(".")[0]
    where = hosts.get(host) or hosts.get(short)
    if where is None:
        raise PermissionDenied(f'error: host "{host}" is not granted to job {job_id} '
                               f"(granted: {', '.join(sorted(hosts)) or 'none'})")
    task = env.get("SGE_TASK_ID", "")
    rsh_command = env.get("QSYS_RSH_COMMAND", "") or "builtin"
    hello = {
        "inherit": True, "token": token, "job_id": int(job_id), "task_id": int(task) if task.isdigit() else 1,
        "argv": command, "noshell": flags["noshell"], "env": dict(env) if flags["V"] else {},
        "cwd": os.getcwd() if flags["V"] else "", "from_host": socket.gethostname(),
        "command": rsh_command, "command_host": env.get("HOSTNAME", "") or socket.gethostname(),
    }
    from qsys.remote.addresses import resolves

    addresses, port = where
    try:
        sock = builtin.connect([host, *addresses] if resolves(host) else addresses, port)
    except builtin.SessionRefused as exc:
        print(f"error: qrsh -inherit to host {host}: {exc}", file=sys.stderr)
        return REFUSED
    try:
        sock.sendall(wire.control(wire.HELLO, hello))
        kind, length = struct.unpack(">BI", builtin.recv_exact(sock, 5))
        payload = builtin.recv_exact(sock, min(length, 65536))
        if kind != wire.ACCEPT:
            print(f"error: host {host} refused the task: {payload.decode(errors='replace')}", file=sys.stderr)
            return REFUSED
        sock.settimeout(None)
        accepted = wire.load(payload) if payload else {}
    except (OSError, builtin.SessionRefused, wire.FrameError) as exc:
        sock.close()
        print(f"error: qrsh -inherit to host {host}: {exc}", file=sys.stderr)
        return REFUSED
    if isinstance(accepted, dict) and accepted.get("port"):
        sock.close()
        listening = accepted.get("addresses")  # where the task's port listens (older daemons: every address)
        if isinstance(listening, list) and listening:
            addresses = [str(a) for a in listening]
        return run_command(rsh_command, host, addresses, int(accepted["port"]), command, accepted, flags["nostdin"])
    return builtin.Client(sock, False, flags["nostdin"]).run()


def run_command(setting: str, host: str, addresses: list[str], port: int, command: list[str],
                accepted: dict[str, object], nostdin: bool) -> int:
    """The target host's rsh_daemon is a daemon: become ``rsh_command -n -p PORT HOST cmd``
    (the rsh convention, as qrsh uses it), or run ssh with the task's keys for qsys-sshd; its
    exit status is then ours."""
    from qsys.remote import sshkeys
    from qsys.startup import methods

    target = methods.target_host(host, addresses)
    if sshkeys.is_qsys_sshd(accepted.get("daemon")) and accepted.get("token"):
        from qsys.startup import sshclient

        try:
            return sshclient.run(setting, "rsh", target, port, str(accepted["token"]), command, nostdin=nostdin)
        except QsysError as exc:
            print(exc.message, file=sys.stderr)
            return REFUSED
    argv = methods.command_argv("rsh", setting, target, port, command)
    try:
        methods.exec_command(argv)
    except OSError as exc:
        print(f"error: cannot execute {argv[0]}: {exc.strerror}", file=sys.stderr)
    return REFUSED
