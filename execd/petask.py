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


def inherit_env(launch: Launch) -> dict[str, str]:
    """What a job (and each of its pe tasks) needs to start pe tasks on its granted hosts."""
    if not launch.pe_token:
        return {}
    hosts = " ".join(f"{host}={','.join(str(a) for a in entry[0])}:{entry[1]}"
                     for host, entry in sorted(launch.pe_addrs.items()))
    env = {"QSYS_PE_TOKEN": launch.pe_token, "QSYS_PE_HOSTS": hosts}
    if launch.pe_task_id:
        env["QSYS_PE_TASK_ID"] = launch.pe_task_id
    return env


def run(shep: Shepherd, launch: Launch, plan: Plan) -> dict[str, Any]:
    from execd import builtin_server

    conn = socket.socket(fileno=CONNECTION_FD)
    plan.env.update(inherit_env(launch))
    plan.env["JOB_SCRIPT"] = "QRSH"
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
    report["pe_task_id"] = launch.pe_task_id
    print(f"shepherd: pe task {launch.pe_task_id} ended: exit_status={report['exit_status']} "
          f"cpu={report['cpu']}", flush=True, file=sys.stderr)
    return report
