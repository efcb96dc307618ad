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
  host (and, as for builtin, listens only on the address facing that host); others are
  refused and logged. The daemon is started on the connection inetd-style
  (socket on stdin and stdout) as a child of the shepherd, so it carries the job's extra group
  ID (and ``QSYS_ADD_GRP_ID`` for the PAM module that restores it after ``initgroups``), its
  usage is the job's, and qdel ends it. The daemon authenticates as it always does.
* **qsys-sshd** (``*_daemon qsys-sshd``): a daemon method whose daemon is ours
  (:mod:`execd.sshd`, run with this interpreter): started the same way but already as the
  job's user, with the job's program, environment and token in a plan on fd 3; it lets in
  only the key derived from the token (:mod:`qsys.remote.sshkeys`).

A port nobody connects to closes after ``ACCEPT_TIMEOUT`` seconds and the job ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import hmac
import json
import os
import resource
import select
import shlex
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from execd import identity, procs, reaper
from execd.spool import TaskDir
from execd.usage import GroupSampler, empty_report, merge_usage, report_from_wait, rusage_delta
from qsys.remote import wire
from qsys.remote.addresses import local_addresses, normalize, serving_address
from qsys.remote.sshkeys import is_qsys_sshd

if TYPE_CHECKING:
    from execd.shepherd import Plan, Shepherd
    from qsys.launch import Launch

LISTENER_FD = 3
ACCEPT_TIMEOUT = 60.0
HELLO_TIMEOUT = 5.0  # from connect to the whole HELLO, per connection
PENDING_MAX = 16  # connections in their handshake at once (the oldest gives way)
DAEMON_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PR_SET_CHILD_SUBREAPER = 36
SSHD_PLAN_FD = 3  # where qsys-sshd finds its plan


def is_builtin(setting: str) -> bool:
    return setting.strip().lower() in ("", "builtin")


def open_listener(address: str | None = None) -> socket.socket:
    """A listening TCP socket on a random port, on ``address`` or else on every address (dual
    stack when possible)."""
    if address is not None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return socket.create_server((address, 0), family=family, backlog=16)
    try:
        return socket.create_server(("::", 0), family=socket.AF_INET6, backlog=16, dualstack_ipv6=True)
    except (OSError, ValueError):
        return socket.create_server(("0.0.0.0", 0), backlog=16)


def session_listener(session: dict[str, Any]) -> tuple[socket.socket, list[str]]:
    """The port of a session and the addresses to tell its client: bound to the one address
    the client comes from (loopback for a client on this host, else the address facing the
    client's host), for every method; the port is then not reachable from networks the grant
    excludes. Only when the client's addresses lead out of several of ours (or none is
    granted) does it listen on every address (and a daemon method still checks the peer)."""
    address = serving_address(list(session.get("grant") or []))
    if address is not None:
        with contextlib.suppress(OSError):
            return open_listener(address), [address]
    return open_listener(), host_addresses()


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


class _Pending:
    """A connection in its handshake: the bytes so far and when its time is up."""

    __slots__ = ("conn", "peer", "expires", "frames")

    def __init__(self, conn: socket.socket, peer: str, expires: float) -> None:
        self.conn = conn
        self.peer = peer
        self.expires = expires
        self.frames = wire.FrameReader()

    def hello(self) -> dict[str, Any] | None:
        """The HELLO once it is whole (None: not yet); ValueError when it is not one."""
        try:
            data = self.conn.recv(4096)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            raise ValueError(str(exc)) from None
        if not data:
            raise ValueError("closed before its HELLO")
        try:
            frames = self.frames.feed(data)
        except wire.FrameError as exc:
            raise ValueError(str(exc)) from None
        if not frames:
            if self.frames.pending > 64 * 1024:
                raise ValueError("HELLO too long")
            return None
        kind, payload = frames[0]
        hello = wire.load(payload) if kind == wire.HELLO else None
        if not isinstance(hello, dict):
            raise ValueError("first frame is not a HELLO")
        return hello


def accept_client(listener: socket.socket, session: dict[str, Any], tdir: TaskDir, launch: Launch,
                  deadline: float) -> tuple[socket.socket, dict[str, Any]] | None:
    """The session's connection (and the builtin HELLO), or None when nobody came in time.

    Connections are served side by side: each has ``HELLO_TIMEOUT`` seconds for its whole
    HELLO, so a peer that trickles bytes holds up nobody; at ``PENDING_MAX`` connections in
    their handshake the oldest is dropped for the newest."""
    builtin = is_builtin(str(session.get("daemon", "")))
    grant = {normalize(a) for a in session.get("grant") or []}
    token = str(session.get("token", ""))
    listener.setblocking(False)
    pending: dict[socket.socket, _Pending] = {}

    def refuse(item: _Pending, why: str) -> None:
        del pending[item.conn]
        _audit(tdir, launch, f"builtin connection from {item.peer} refused: {why}")
        with contextlib.suppress(OSError):
            item.conn.send(wire.frame(wire.REFUSE, b"permission denied: wrong session token"))
        item.conn.close()

    try:
        while True:
            now = time.time()
            if deadline <= now or tdir.kill_signal() is not None:
                return None
            for item in [p for p in pending.values() if p.expires <= now]:
                refuse(item, f"no valid token within {HELLO_TIMEOUT:.0f}s")
            wait = min([deadline - now, 1.0, *(p.expires - now for p in pending.values())])
            try:
                readable, _, _ = select.select([listener, *pending], [], [], max(0.0, wait))
            except InterruptedError:
                continue
            for ready in readable:
                if ready is listener:
                    try:
                        conn, addr = listener.accept()
                    except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                        continue
                    peer = normalize(str(addr[0]))
                    if not builtin:
                        if peer not in grant:
                            _audit(tdir, launch, f"connection from {peer} refused: the session was granted to "
                                                 f"{', '.join(sorted(grant)) or 'nobody'}")
                            conn.close()
                            continue
                        conn.setblocking(True)
                        _log(f"{session.get('method')} client from {peer} accepted")
                        return conn, {}
                    if len(pending) >= PENDING_MAX:
                        refuse(min(pending.values(), key=lambda p: p.expires), "too many connections at once")
                    conn.setblocking(False)
                    pending[conn] = _Pending(conn, peer, now + HELLO_TIMEOUT)
                    continue
                waiting = pending.get(ready)
                if waiting is None:
                    continue
                item = waiting
                try:
                    hello = item.hello()
                except ValueError:
                    refuse(item, "no valid token")
                    continue
                if hello is None:
                    continue
                if not hmac.compare_digest(str(hello.get("token", "")).encode(), token.encode()):
                    refuse(item, "no valid token")
                    continue
                del pending[item.conn]
                conn = item.conn
                conn.setblocking(True)
                keepalive(conn)
                conn.sendall(wire.control(wire.ACCEPT, {}))
                _log(f"builtin client from {item.peer} accepted")
                return conn, hello
    finally:
        for item in pending.values():
            item.conn.close()


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


def spawn_daemon(conn: socket.socket, argv: list[str], env: dict[str, str], extra_gid: int | None,
                 ident: identity.Identity | None = None, plan_fd: int | None = None,
                 run: Callable[[], int] | None = None) -> int:
    """Fork and exec ``argv`` inetd style: ``conn`` on stdin and stdout, our stderr (the task's
    trace) on stderr, its own process group, the extra group ID added. With ``ident`` it runs
    as that user (``qsys-sshd``; the others switch users themselves), with ``plan_fd`` that
    file on fd 3; with ``run`` the child calls it instead of exec (a preloaded daemon).
    Returns its pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            for sig in (signal.SIGPIPE, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            if ident is not None:
                identity.switch(ident)
            elif extra_gid is not None and os.geteuid() == 0:
                os.setgroups([*os.getgroups(), extra_gid])
            os.dup2(conn.fileno(), 0)
            os.dup2(conn.fileno(), 1)
            if plan_fd is not None:
                os.dup2(plan_fd, SSHD_PLAN_FD)
                os.set_inheritable(SSHD_PLAN_FD, True)  # also when it was fd 3 already
            os.closerange(3 if plan_fd is None else SSHD_PLAN_FD + 1, 65536)
            os.chdir("/")
            if run is not None:
                os.environ.clear()
                os.environ.update(env)
                os._exit(run())
            os.execve(argv[0], argv, env)
        except BaseException as exc:  # noqa: B036 - nothing may escape a forked child
            with contextlib.suppress(OSError):
                os.write(2, f"session: cannot start {argv!r}: {exc}\n".encode())
        os._exit(127)
    return pid


def sshd_plan(launch: Launch, plan: Plan) -> dict[str, Any]:
    """What ``qsys-sshd`` needs (it reads it from fd 3): the token its keys derive from, the
    user names it lets in, and the job's program, environment and directory."""
    from execd.program import program_argv

    exe, argv, search = program_argv(launch, plan)
    return {"job": launch.task_key, "token": str((launch.session or {}).get("token", "")),
            "users": sorted({launch.owner, plan.ident.user}), "env": plan.env, "cwd": plan.cwd,
            "exe": exe, "argv": argv, "search": search, "shell": plan.ident.shell or "/bin/sh",
            "has_command": launch.spec.get("job_type") == "qrsh",
            "xauthority": os.path.join(plan.env.get("TMPDIR") or "/tmp", ".Xauthority")}


def spawn_qsys_sshd(conn: socket.socket, setting: str, launch: Launch, plan: Plan) -> int:
    """Start ``python -m execd.sshd`` (this very code) on the connection as the job's user,
    its plan in a memory file on fd 3 (never in its argv or environment). When the forkserver
    preloaded it, the forked child runs it at once instead of starting an interpreter."""
    plan_fd = os.memfd_create("qsys-sshd-plan")
    try:
        data = json.dumps(sshd_plan(launch, plan)).encode()
        while data:
            data = data[os.write(plan_fd, data):]
        os.lseek(plan_fd, 0, os.SEEK_SET)
        argv = [sys.executable, "-s", "-m", "execd.sshd", *shlex.split(setting)[1:]]
        env = {**daemon_env(launch, plan.env), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        preloaded = sys.modules.get("execd.sshd")
        run = (lambda: int(preloaded.main(argv[4:]))) if preloaded is not None else None
        return spawn_daemon(conn, argv, env, launch.extra_gid, plan.ident, plan_fd, run)
    finally:
        os.close(plan_fd)


def serve_daemon(shep: Shepherd, conn: socket.socket, plan: Plan, launch: Launch) -> tuple[int, Any, float]:
    """Start the configured daemon on the connection and wait for it, as the job."""
    setting = str((launch.session or {}).get("daemon", ""))
    if is_qsys_sshd(setting):
        pid = spawn_qsys_sshd(conn, setting, launch, plan)
    else:
        pid = spawn_daemon(conn, shlex.split(setting), daemon_env(launch, plan.env), launch.extra_gid)
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

