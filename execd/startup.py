"""Daemon side of remote startup: the per-job port of a qrsh/qrlogin/qlogin session.

The exec daemon binds a random port (:func:`open_listener`) before it forks the shepherd, so
it can tell the master the port at once; the shepherd inherits the listening socket as fd 3
and runs the session (:func:`run_session`) as the job:

* **builtin** (``*_daemon builtin``): the first frame of a connection must carry the job's
  one-time token; a connection without it is refused and logged, and the port stays open for
  the right client. Then :mod:`execd.builtin_server` runs the command (or a login shell) with
  or without a pty and relays its I/O, window size, signals and exit status.
* **daemon methods** (``/usr/sbin/sshd -i``, ``/usr/sbin/telnetd``, ``in.rlogind``,
  ``in.rshd``): the port accepts one connection, only from an address granted to the client's
  host; others are refused and logged. The daemon is started on the connection inetd-style
  (socket on stdin and stdout) as a child of the shepherd, so it carries the job's extra group
  ID (and ``QSYS_ADD_GRP_ID`` for the PAM module that restores it after ``initgroups``), its
  usage is the job's, and qdel ends it. The daemon authenticates as it always does.

A port nobody connects to closes after ``ACCEPT_TIMEOUT`` seconds and the job ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import hmac
import os
import resource
import shlex
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING, Any

from execd import procs, reaper
from execd.spool import TaskDir
from execd.usage import GroupSampler, empty_report, merge_usage, report_from_wait, rusage_delta
from qsys.remote import wire
from qsys.remote.addresses import local_addresses, normalize

if TYPE_CHECKING:
    from execd.shepherd import Plan, Shepherd
    from qsys.launch import Launch

LISTENER_FD = 3
ACCEPT_TIMEOUT = 60.0
HELLO_TIMEOUT = 3.0
DAEMON_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PR_SET_CHILD_SUBREAPER = 36


def is_builtin(setting: str) -> bool:
    return setting.strip().lower() in ("", "builtin")


def open_listener() -> socket.socket:
    """A listening TCP socket on a random port, on every address (dual stack when possible)."""
    try:
        return socket.create_server(("::", 0), family=socket.AF_INET6, backlog=8, dualstack_ipv6=True)
    except (OSError, ValueError):
        return socket.create_server(("0.0.0.0", 0), backlog=8)


def keepalive(sock: socket.socket, idle: int = 60, interval: int = 10, count: int = 6) -> None:
    """Notice a client host that vanished without closing (then the session hangs up)."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, count)


def host_addresses() -> list[str]:
    return local_addresses()


def _log(text: str) -> None:
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
    print(f"{stamp} session: {text}", file=sys.stderr, flush=True)


def _audit(tdir: TaskDir, launch: Launch, text: str) -> None:
    """A refusal goes to the task's trace and to the spool's audit file."""
    _log(text)
    line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} job={launch.task_key} action=session_refuse reason={text!r}\n"
    with contextlib.suppress(OSError):
        fd = os.open(tdir.path.parent.parent / "audit", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


# ---------------------------------------------------------------- accepting the one client


def _read_hello(conn: socket.socket) -> dict[str, Any] | None:
    conn.settimeout(HELLO_TIMEOUT)
    reader = wire.FrameReader()
    try:
        while True:
            data = conn.recv(4096)
            if not data:
                return None
            frames = reader.feed(data)
            if frames:
                kind, payload = frames[0]
                if kind != wire.HELLO:
                    return None
                hello = wire.load(payload)
                return hello if isinstance(hello, dict) else None
    except (OSError, wire.FrameError):
        return None


def accept_client(listener: socket.socket, session: dict[str, Any], tdir: TaskDir, launch: Launch,
                  deadline: float) -> tuple[socket.socket, dict[str, Any]] | None:
    """The session's connection (and the builtin HELLO), or None when nobody came in time."""
    builtin = is_builtin(str(session.get("daemon", "")))
    grant = {normalize(a) for a in session.get("grant") or []}
    token = str(session.get("token", ""))
    while True:
        remaining = deadline - time.time()
        if remaining <= 0 or tdir.kill_signal() is not None:
            return None
        listener.settimeout(min(remaining, 1.0))
        try:
            conn, addr = listener.accept()
        except TimeoutError:
            continue
        peer = normalize(str(addr[0]))
        if builtin:
            hello = _read_hello(conn)
            offered = str(hello.get("token", "")) if hello else ""
            if hello is not None and hmac.compare_digest(offered.encode(), token.encode()):
                conn.settimeout(None)
                keepalive(conn)
                conn.sendall(wire.control(wire.ACCEPT, {}))
                _log(f"builtin client from {peer} accepted")
                return conn, hello
            _audit(tdir, launch, f"builtin connection from {peer} refused: no valid token")
            with contextlib.suppress(OSError):
                conn.sendall(wire.frame(wire.REFUSE, b"permission denied: wrong session token"))
            conn.close()
            continue
        if peer not in grant:
            _audit(tdir, launch, f"connection from {peer} refused: the session was granted to "
                                 f"{', '.join(sorted(grant)) or 'nobody'}")
            conn.close()
            continue
        conn.settimeout(None)
        _log(f"{session.get('method')} client from {peer} accepted")
        return conn, {}


# ---------------------------------------------------------------- the session as the job


def session_env(env: dict[str, str], launch: Launch, port: int) -> dict[str, str]:
    """The job environment plus what Grid Engine adds for an interactive job."""
    session = launch.session or {}
    out = dict(env)
    out["JOB_SCRIPT"] = "QRSH" if session.get("method") != "qlogin" else "QLOGIN"
    out["QRSH_PORT"] = f"{launch.host}:{port}"
    if session.get("command"):
        out["QRSH_COMMAND"] = str(session["command"])
    for key in ("SGE_STDIN_PATH", "SGE_STDOUT_PATH", "SGE_STDERR_PATH"):
        out[key] = "/dev/null"
    tmpdir = out.get("TMPDIR", "")
    if tmpdir and tmpdir not in out.get("PATH", "").split(":"):
        out["PATH"] = f"{tmpdir}:{out.get('PATH', '')}"
    if launch.extra_gid is not None:
        out["QSYS_ADD_GRP_ID"] = str(launch.extra_gid)
    return out


def _become_subreaper() -> None:
    """Orphans of the session (a daemon's children) come back to the shepherd, so it can end
    and reap every one of them."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def run_session(shep: Shepherd, launch: Launch, plan: Plan) -> dict[str, Any]:
    """Accept the client, run the session, return the exit report (the shepherd writes it)."""
    session = launch.session or {}
    t0 = time.time()
    listener = socket.socket(fileno=LISTENER_FD)
    port = listener.getsockname()[1]
    plan.env = session_env(plan.env, launch, port)
    _become_subreaper()
    _log(f"{session.get('method')} session, daemon {session.get('daemon')!r}, port {port}")
    try:
        accepted = accept_client(listener, session, shep.tdir, launch, t0 + ACCEPT_TIMEOUT)
    finally:
        listener.close()
    if accepted is None:
        return nobody_came(shep)
    conn, hello = accepted
    if launch.extra_gid is not None and os.geteuid() == 0:
        shep.sampler = GroupSampler(launch.extra_gid, lambda: reaper.shepherd_pids(shep.spool_root))
    with Usage(shep) as usage:
        if is_builtin(str(session.get("daemon", ""))):
            from execd import builtin_server

            status, ru, started = builtin_server.serve(conn, hello, plan, launch, shep.tdir)
        else:
            status, ru, started = serve_daemon(shep, conn, plan, launch)
        conn.close()
        shep._sample(time.time())  # foreign carriers as they were when the session ended
        reap_leftovers()
    report = usage.report(status, ru, started)
    _log(f"session ended: exit_status={report['exit_status']} signal={report['signal']} cpu={report['cpu']}")
    return report


def nobody_came(shep: Shepherd) -> dict[str, Any]:
    report = empty_report(0.0, time.time())
    killed = shep.tdir.kill_signal() is not None
    why = "deleted before a client connected" if killed else f"no client connected within {ACCEPT_TIMEOUT:.0f}s"
    report.update(failed=10, error=why, killed=killed, exit_status=0)
    _log(why)
    return report


class Usage:
    """The usage of a session or pe task: everything the shepherd reaped while it ran (the
    daemon, the login below it and the orphans re-parented to the shepherd as their
    subreaper), plus the foreign carriers of the group ID its sampler saw."""

    def __init__(self, shep: Shepherd) -> None:
        self.shep = shep
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.io = procs.read_io("self")

    def __enter__(self) -> Usage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ended = time.time()

    def report(self, status: int, ru: Any, started: float) -> dict[str, Any]:
        children = rusage_delta(resource.getrusage(resource.RUSAGE_CHILDREN), self.children)
        report = report_from_wait(status, ru, started, getattr(self, "ended", time.time()))
        merge_usage(report, children, max(0, procs.read_io("self") - self.io), self.shep.sampler)
        report["killed"] = self.shep.tdir.kill_signal() is not None
        return report


def daemon_env(launch: Launch, job_env: dict[str, str]) -> dict[str, str]:
    """The daemon's own environment: a plain PATH, the job's ids, and QSYS_ADD_GRP_ID (read
    by the PAM module ``pam_qsys``; the user logging in cannot set the daemon's environment)."""
    env = {"PATH": DAEMON_PATH, "QSYS_JOB_ID": str(launch.job_id)}
    for key in ("QSYS_ADD_GRP_ID", "TMPDIR", "JOB_ID"):
        if key in job_env:
            env[key] = job_env[key]
    return env


def spawn_daemon(conn: socket.socket, argv: list[str], env: dict[str, str], extra_gid: int | None) -> int:
    """Fork and exec ``argv`` inetd style: ``conn`` on stdin and stdout, our stderr (the task's
    trace) on stderr, its own process group, the extra group ID added. Returns its pid."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            for sig in (signal.SIGPIPE, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            if extra_gid is not None and os.geteuid() == 0:
                os.setgroups([*os.getgroups(), extra_gid])
            os.dup2(conn.fileno(), 0)
            os.dup2(conn.fileno(), 1)
            os.closerange(3, 65536)
            os.chdir("/")
            os.execve(argv[0], argv, env)
        except BaseException as exc:  # noqa: B036 - nothing may escape a forked child
            with contextlib.suppress(OSError):
                os.write(2, f"session: cannot start {argv!r}: {exc}\n".encode())
        os._exit(127)
    return pid


def serve_daemon(shep: Shepherd, conn: socket.socket, plan: Plan, launch: Launch) -> tuple[int, Any, float]:
    """Start the configured daemon on the connection and wait for it, as the job."""
    argv = shlex.split(str((launch.session or {}).get("daemon", "")))
    pid = spawn_daemon(conn, argv, daemon_env(launch, plan.env), launch.extra_gid)
    started = time.time()
    shep.tdir.write_job_pid(pid)
    kill = shep.tdir.kill_signal()
    if kill is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, kill)
    conn.close()
    status, ru = shep._wait(pid, started, launch)
    return status, ru, started


# ---------------------------------------------------------------- ending a session


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(name))
    return children


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc, at this moment)."""
    tree = _children_map()
    out: list[int] = []
    todo = list(tree.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(tree.get(child, []))
    return out


def with_group(gid: int) -> list[int]:
    """Processes that carry ``gid`` among their groups (a job's extra group ID)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("Groups:"):
                        if str(gid) in line.split()[1:]:
                            found.append(int(name))
                        break
        except OSError:
            continue
    return found


def kill_session(tdir: TaskDir, shepherd_pid: int, sig: int) -> None:
    """qdel of a session: the daemon's children may have left its process group (sshd puts
    a login in a session of its own), so signal the shepherd's whole tree and every process
    with the job's extra group ID."""
    try:
        launch = tdir.launch()
    except (OSError, ValueError, TypeError):
        return
    if launch.session is None:
        return
    targets = set(descendants(shepherd_pid)) if shepherd_pid else set()
    if launch.extra_gid is not None:
        targets.update(with_group(launch.extra_gid))
    targets.discard(shepherd_pid)
    targets.discard(os.getpid())
    for pid in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def reap_leftovers() -> None:
    """Kill and reap what the session left behind (the shepherd is their subreaper)."""
    for _round in range(50):
        left = descendants(os.getpid())
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        time.sleep(0.01)

