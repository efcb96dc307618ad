"""A task started with ``qrsh -inherit``, run by its own shepherd on the target host.

The exec daemon accepted the request (``execd.inherit``) and passed the client's connection
as fd 3. The command runs as the job owner with the job's extra group ID on this host, its
I/O relayed by the builtin session server; its usage is what the shepherd reaped (it is the
subreaper of the task), so a task's double-forked processes count too. At the end only the
task's own descendants are killed: the job's other processes on this host share its group ID.
"""

from __future__ import annotations

import resource
import socket
import sys
import time
from typing import TYPE_CHECKING, Any

from execd import procs, reaper
from execd.usage import merge_usage, report_from_wait, rusage_delta
from qsys.launch import Launch

if TYPE_CHECKING:
    from execd.shepherd import Plan, Shepherd

CONNECTION_FD = 3


def inherit_env(launch: Launch, conf: dict[str, Any] | None = None) -> dict[str, str]:
    """What a job (and each of its pe tasks) needs to start pe tasks on its granted hosts:
    the job's token, where the granted hosts take tasks, and the ``rsh_command`` of this
    host (``conf``: the exec daemon's configuration in the task directory)."""
    if not launch.pe_token:
        return {}
    hosts = " ".join(f"{host}={','.join(str(a) for a in entry[0])}:{entry[1]}"
                     for host, entry in sorted(launch.pe_addrs.items()))
    env = {"QSYS_PE_TOKEN": launch.pe_token, "QSYS_PE_HOSTS": hosts}
    if conf and conf.get("rsh_command"):
        env["QSYS_RSH_COMMAND"] = str(conf["rsh_command"])
    if launch.pe_task_id:
        env["QSYS_PE_TASK_ID"] = launch.pe_task_id
    return env


def run(shep: Shepherd, launch: Launch, plan: Plan) -> dict[str, Any]:
    from execd import startup

    plan.env.update(inherit_env(launch, _conf(shep)))
    plan.env["JOB_SCRIPT"] = "QRSH"
    daemon = str((launch.session or {}).get("daemon", ""))
    if not startup.is_builtin(daemon):
        report = _run_daemon(shep, launch, plan)
    else:
        report = _run_builtin(shep, launch, plan)
    report["pe_task_id"] = launch.pe_task_id
    print(f"shepherd: pe task {launch.pe_task_id} ended: exit_status={report['exit_status']} "
          f"cpu={report['cpu']}", flush=True, file=sys.stderr)
    return report


def _conf(shep: Shepherd) -> dict[str, Any]:
    try:
        return dict(shep.tdir.execd_conf())
    except (OSError, ValueError, TypeError):
        return {}


def _run_builtin(shep: Shepherd, launch: Launch, plan: Plan) -> dict[str, Any]:
    from execd import builtin_server

    conn = socket.socket(fileno=CONNECTION_FD)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    io_before = procs.read_io("self")
    try:
        status, ru, started = builtin_server.serve(conn, {"pty": False}, plan, launch, shep.tdir)
    finally:
        conn.close()
    ended = time.time()
    pid = shep.tdir.job_pid()
    if pid is not None:
        reaper.end_all(pid, None)
    children = rusage_delta(resource.getrusage(resource.RUSAGE_CHILDREN), children_before)
    report = report_from_wait(status, ru, started, ended)
    merge_usage(report, children, max(0, procs.read_io("self") - io_before), None)
    report["killed"] = shep.tdir.kill_signal() is not None
    return report


def _run_daemon(shep: Shepherd, launch: Launch, plan: Plan) -> dict[str, Any]:
    """``rsh_daemon`` is a daemon (``sshd -i``...): fd 3 is a one-connection port that takes
    only the address the task was granted to; the daemon runs on that connection inetd
    style, as this pe task (its extra group ID, its usage, killed with it)."""
    from execd import startup

    session = launch.session or {}
    listener = socket.socket(fileno=CONNECTION_FD)
    if launch.extra_gid is not None:
        plan.env["QSYS_ADD_GRP_ID"] = str(launch.extra_gid)
    try:
        accepted = startup.accept_client(listener, session, shep.tdir, launch, time.time() + startup.ACCEPT_TIMEOUT)
    finally:
        listener.close()
    if accepted is None:
        return startup.nobody_came(shep)
    conn, _ = accepted
    with startup.Usage(shep) as usage:
        status, ru, started = startup.serve_daemon(shep, conn, plan, launch)
        conn.close()
        startup.reap_leftovers()  # only this task's tree: the job's other processes share its group ID
    return usage.report(status, ru, started)
