"""``qrsh -inherit``: the exec daemon accepts tasks of the PE jobs granted slots on its host.

The daemon listens on a port of its own (told to the master, which puts every granted host's
port in the job's Launch, so a job finds its hosts without asking the master). A request is
one HELLO frame of the builtin session protocol (``qsys.remote.wire``) with
``{inherit: true, token, job_id, task_id, argv, noshell, env, cwd, from_host}``. It is
accepted only when

* the job holds slots on this host (its master task runs here, or the master told this host
  of it with PeSlaveStart),
* its PE has ``control_slaves TRUE``,
* the token is the job's (derived by the master from the cluster key; it reaches the job
  through its environment, readable only by the job owner and root).

Otherwise the client gets REFUSE with the reason. The request also carries the client's
``rsh_command`` (of the host it runs on), checked against this host's ``rsh_daemon``: both
builtin, or neither (else REFUSE naming both). With a daemon method the shepherd gets a
one-connection port that accepts only the request's address instead of the connection, ACCEPT
tells the client that port, and the client runs ``rsh_command -n -p PORT HOST cmd``; the
shepherd starts the daemon on the connection as the task (``execd.petask``). With
``rsh_daemon qsys-sshd`` the task gets a one-time token of its own, and ACCEPT carries it (and
the daemon's name) to the client, which derives the session's ssh keys from it.
An accepted task gets a spool directory
``pe_tasks/<job>.<task>.<n>`` and a shepherd that inherits the connection as fd 3 and runs the
command with the builtin relay as the job owner, with the job's extra group ID on this host.
Its pe task id is ``<n>.<host>``; the master is told when it starts and ends (PeTaskFinished,
repeated until PeTaskAck), and writes its accounting record.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import shlex
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from execd.spool import DIR_MODE, EXECD_FILE, JOB_FILE, PE_HOSTFILE, TaskDir, proc_start_time, write_atomic
from execd.startup import is_builtin, kill_session, open_listener
from execd.usage import empty_report
from qsys import admission, protocol
from qsys.auth import new_token
from qsys.launch import Launch
from qsys.remote import wire
from qsys.remote.addresses import local_addresses, normalize
from qsys.remote.sshkeys import DAEMON_NAME, is_qsys_sshd

if TYPE_CHECKING:
    from execd.daemon import ExecDaemon

log = logging.getLogger("qsys.execd.inherit")

PE_TASKS = "pe_tasks"
HELLO_TIMEOUT = 10.0
HELLO_LIMIT = 256 * 1024  # a request carries a command line and an environment


class Refused(Exception):
    """A qrsh -inherit request this host does not accept (the text goes to the client)."""


class PeTaskEntry:
    __slots__ = ("tdir", "pe_task_id", "pid", "pidfd", "report")

    def __init__(self, tdir: TaskDir, pe_task_id: str) -> None:
        self.tdir = tdir
        self.pe_task_id = pe_task_id
        self.pid = 0
        self.pidfd: int | None = None
        self.report: dict[str, Any] | None = None


class InheritServer:
    def __init__(self, daemon: ExecDaemon) -> None:
        self.daemon = daemon
        self.root = daemon.spool.root / PE_TASKS
        self.listeners: list[admission.Listener] = []
        self.refusals = admission.Every()
        self.port = 0
        self.tasks: dict[str, PeTaskEntry] = {}  # spool dir name -> entry
        self.counter: dict[tuple[int, int], int] = {}

    # ------------------------------------------------------------ life cycle

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, DIR_MODE)
        socks = admission.tcp_sockets(["*"], 0)
        self.port = socks[0].getsockname()[1]
        gate = admission.Gate(admission.Limits(handshake_timeout=HELLO_TIMEOUT))
        self.listeners = [admission.Listener(sock, gate, self._serve, name=f"qrsh -inherit port {self.port}")
                          for sock in socks]
        for listener in self.listeners:
            listener.start()
        for path in sorted(self.root.iterdir()):
            self._adopt(path)
        log.info("host=%s accepts qrsh -inherit on port %d", self.daemon.host, self.port)

    def close(self) -> None:
        for listener in self.listeners:
            listener.sock.close()  # the loop ends with the daemon; no new request comes in
        for entry in self.tasks.values():
            self._unwatch(entry)

    def link_up(self) -> None:
        """Tell the master where this host takes pe tasks, and every unacknowledged end."""
        self.daemon.send(protocol.PeInheritPort(self.daemon.host, self.port, local_addresses()))
        for entry in self.tasks.values():
            if entry.report is not None:
                self._report(entry)

    # ------------------------------------------------------------ one request

    async def _serve(self, sock: socket.socket, ticket: admission.Ticket) -> None:
        """One request: its HELLO within the deadline, then ACCEPT and a task, or REFUSE; the
        connection is closed either way (a started task holds its own copy)."""
        reader, writer = await admission.streams(sock)
        peer = ticket.peer
        try:
            try:
                hello = await asyncio.wait_for(self._hello(reader), HELLO_TIMEOUT)
            except TimeoutError:
                raise Refused(f"no request within {HELLO_TIMEOUT:.0f}s") from None
            except (wire.FrameError, asyncio.IncompleteReadError, OSError) as exc:
                raise Refused(f"not a qrsh -inherit request ({exc})") from None
            try:
                launch = self._check(hello, normalize(peer))
            except Refused:
                raise
            except Exception as exc:  # a request we did not foresee: still an answer
                log.exception("host=%s qrsh -inherit request failed", self.daemon.host)
                raise Refused(f"cannot start the task: {exc}") from None
            ticket.authenticated()
        except Refused as exc:
            self.refusals.warn(f"inherit {type(exc).__name__}", "host=%s qrsh -inherit from %s refused: %s",
                                      self.daemon.host, peer, exc)
            writer.write(wire.frame(wire.REFUSE, str(exc).encode()))
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.drain(), 5.0)
            writer.close()
            return
        writer.transport.pause_reading()  # type: ignore[attr-defined]
        conn = socket.socket(fileno=os.dup(sock.fileno()))
        writer.close()
        try:
            conn.setblocking(True)
            if is_builtin(str((launch.session or {}).get("daemon", ""))):
                conn.sendall(wire.control(wire.ACCEPT, {}))
                self._start(launch, conn)
            else:
                self._start_daemon(launch, conn)
        except OSError as exc:
            log.error("job=%s pe task could not start: %s", launch.task_key, exc)
        finally:
            conn.close()

    def _start_daemon(self, launch: Launch, conn: socket.socket) -> None:
        """A daemon method: a one-connection port for the client's command (``ssh -n -p PORT
        HOST cmd``), handed to the task's shepherd; the client learns the port and the one
        address it listens on (the one the client's request came to) in ACCEPT."""
        address = normalize(str(conn.getsockname()[0]))
        listener = open_listener(address)
        try:
            self._start(launch, listener)
            port = listener.getsockname()[1]
        finally:
            listener.close()  # the shepherd holds it now
        accept: dict[str, Any] = {"port": port, "method": "rsh", "addresses": [address]}
        if is_qsys_sshd((launch.session or {}).get("daemon")):
            accept.update(daemon=DAEMON_NAME, token=(launch.session or {}).get("token", ""))
        conn.sendall(wire.control(wire.ACCEPT, accept))
        log.info("job=%s pe task %s: %s waits on port %d for %s", launch.task_key, launch.pe_task_id,
                 (launch.session or {}).get("daemon"), port, ", ".join((launch.session or {}).get("grant") or []))

    @staticmethod
    async def _hello(reader: asyncio.StreamReader) -> dict[str, Any]:
        frames = wire.FrameReader()
        while True:
            data = await reader.read(65536)
            if not data:
                raise Refused("no request")
            got = frames.feed(data)
            if frames.pending > HELLO_LIMIT:
                raise Refused(f"request longer than {HELLO_LIMIT} bytes")
            if got:
                kind, payload = got[0]
                hello = wire.load(payload) if kind == wire.HELLO else None
                if not isinstance(hello, dict) or not hello.get("inherit"):
                    raise Refused("not a qrsh -inherit request")
                return hello

    def _check(self, hello: dict[str, Any], peer: str = "") -> Launch:
        job_id, task_id = _number(hello, "job_id", 0), _number(hello, "task_id", 1)
        if not isinstance(hello.get("argv") or [], list) or not isinstance(hello.get("env") or {}, dict):
            raise Refused("malformed request: argv must be a list and env a map")
        granted = self.daemon.pe.granted(job_id, task_id)
        host = self.daemon.host
        if granted is None or not granted.pe:
            raise Refused(f"job {job_id} has no slots granted on host {host}")
        if not hmac.compare_digest(str(hello.get("token", "")).encode(), granted.pe_token.encode()):
            raise Refused(f"permission denied: not a task of job {job_id}")
        if not granted.control_slaves:
            raise Refused(f'parallel environment "{granted.pe}" of job {job_id} does not allow '
                          "tasks started with qrsh -inherit (control_slaves FALSE)")
        argv = [str(a) for a in hello.get("argv") or []]
        if not argv:
            raise Refused("no command")
        session = self._method(hello, argv, peer)  # a command/daemon mismatch is told first
        self._check_slots(job_id, task_id, granted)
        key = (job_id, task_id)
        n = self.counter.get(key, 0) + 1
        while (self.root / f"{job_id}.{task_id}.{n}").exists():
            n += 1
        self.counter[key] = n
        launch = Launch.from_wire(granted.to_wire())
        spec = {k: v for k, v in granted.spec.items() if k != "script"}
        env = {str(k): str(v) for k, v in (hello.get("env") or {}).items()}
        spec.update(job_type="qrsh", binary=True, command=argv[0], args=argv[1:],
                    noshell=bool(hello.get("noshell")), env=env or spec.get("env") or {})
        if hello.get("cwd"):
            spec["cwd"] = str(hello["cwd"])
        launch.spec = spec
        launch.host = host
        launch.pe_task_id = f"{n}.{host}"
        launch.session = session
        launch.prolog = launch.epilog = launch.pe_start = launch.pe_stop = ""
        return launch

    def _check_slots(self, job_id: int, task_id: int, granted: Launch) -> None:
        """No more tasks than the job's slots on this host: Grid Engine counts the master task
        as one of them on its host when the PE's job_is_first_task is TRUE (sge_pe(5))."""
        host = self.daemon.host
        slots = sum(h.slots for h in granted.hosts if h.host == host) or granted.slots
        master_here = (job_id, task_id) in self.daemon.tasks
        allowed = slots - 1 if master_here and granted.job_is_first_task else slots
        running = sum(1 for e in self.tasks.values() if e.tdir.key == (job_id, task_id) and e.report is None)
        if running >= allowed:
            first = " and the job script counts as one (job_is_first_task TRUE)" if allowed < slots else ""
            raise Refused(f"job {job_id} has {slots} slots on host {host}{first}: no slot for another task "
                          f"({running} running)")

    def _method(self, hello: dict[str, Any], argv: list[str], peer: str) -> dict[str, Any]:
        """The task's session: ``rsh_daemon`` of this host against the client's
        ``rsh_command`` (of the host it runs on); both builtin, or neither."""
        command = str(hello.get("command") or "builtin")
        daemon = str(self.daemon.config.get("rsh_daemon") or "builtin")
        if is_builtin(command) != is_builtin(daemon):
            client = str(hello.get("command_host") or hello.get("from_host") or "?")
            raise Refused(f'rsh_command of host {client} is "{command}" but rsh_daemon of host '
                          f'{self.daemon.host} is "{daemon}": both must be builtin, or neither')
        session: dict[str, Any] = {"method": "rsh", "daemon": "builtin" if is_builtin(daemon) else daemon,
                                   "command": " ".join(argv)}
        if not is_builtin(daemon):  # qsys-sshd's keys derive from a token of the task's own
            session.update(grant=[peer] if peer else [], token=new_token() if is_qsys_sshd(daemon) else "")
        return session

    def _start(self, launch: Launch, conn: socket.socket) -> None:
        n = launch.pe_task_id.split(".")[0]
        path = self.root / f"{launch.task_key}.{n}"
        path.mkdir(mode=DIR_MODE)
        if launch.hosts:
            lines = "".join(f"{h.host} {h.slots} {h.queue} {h.processors}\n" for h in launch.hosts)
            write_atomic(path / PE_HOSTFILE, lines)
        write_atomic(path / EXECD_FILE, json.dumps(self.daemon.execd_conf(), sort_keys=True), 0o600)
        write_atomic(path / JOB_FILE, json.dumps(launch.to_wire(), sort_keys=True), 0o600)
        entry = PeTaskEntry(TaskDir(path), launch.pe_task_id)
        entry.pid = self.daemon.forks.fork(str(path), conn.fileno())
        self.tasks[path.name] = entry
        self.daemon.send(protocol.PeTaskStarted(launch.job_id, launch.task_id, launch.pe_task_id,
                                                self.daemon.host, entry.pid))
        log.info("job=%s pe task %s started (shepherd pid %d): %s", launch.task_key, launch.pe_task_id,
                 entry.pid, shlex.join([str(launch.spec["command"]), *launch.spec["args"]]))
        self._watch(entry)

    # ------------------------------------------------------------ watching and reporting

    def _adopt(self, path: Path) -> None:
        try:
            launch = TaskDir(path).launch()
        except (OSError, ValueError, TypeError, IndexError):
            shutil.rmtree(path, ignore_errors=True)
            return
        entry = PeTaskEntry(TaskDir(path), launch.pe_task_id)
        self.tasks[path.name] = entry
        report = entry.tdir.exit_report()
        rec = entry.tdir.shepherd_pid()
        if report is None and rec is not None and proc_start_time(rec[0]) == rec[1]:
            entry.pid = rec[0]
            self._watch(entry)
            return
        entry.report = report or _lost_report()

    def _watch(self, entry: PeTaskEntry) -> None:
        try:
            entry.pidfd = os.pidfd_open(entry.pid)
        except ProcessLookupError:
            self._ended(entry)
            return
        assert self.daemon.loop is not None
        self.daemon.loop.add_reader(entry.pidfd, self._ended, entry)

    def _unwatch(self, entry: PeTaskEntry) -> None:
        if entry.pidfd is not None:
            if self.daemon.loop is not None:
                self.daemon.loop.remove_reader(entry.pidfd)
            os.close(entry.pidfd)
            entry.pidfd = None

    def _ended(self, entry: PeTaskEntry) -> None:
        self._unwatch(entry)
        entry.report = entry.tdir.exit_report() or _lost_report()
        self._report(entry)

    def _report(self, entry: PeTaskEntry) -> None:
        assert entry.report is not None
        self.daemon.send(protocol.PeTaskFinished(entry.tdir.job_id, entry.tdir.task_id, entry.pe_task_id,
                                                 self.daemon.host, protocol.exit_report(entry.report)))

    def acknowledged(self, job_id: int, task_id: int, pe_task_id: str) -> None:
        for name, entry in list(self.tasks.items()):
            if entry.tdir.key == (job_id, task_id) and entry.pe_task_id == pe_task_id and entry.report is not None:
                del self.tasks[name]
                entry.tdir.remove()

    def shepherds(self) -> dict[tuple[int, int], list[int]]:
        """(job, task) -> the shepherd pids of its pe tasks running here."""
        out: dict[tuple[int, int], list[int]] = {}
        for entry in self.tasks.values():
            if entry.report is None and entry.pid:
                out.setdefault(entry.tdir.key, []).append(entry.pid)
        return out

    def signal(self, job_id: int, task_id: int, sig: int) -> int:
        """Stop or continue the running pe tasks of a job here (suspension); how many."""
        count = 0
        for entry in self.tasks.values():
            pid = entry.tdir.job_pid() if entry.tdir.key == (job_id, task_id) and entry.report is None else None
            if pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, sig)
                    count += 1
        return count

    def kill(self, job_id: int, task_id: int, sig: int) -> None:
        """Signal the pe tasks of a job (their shepherds end them and report)."""
        for entry in self.tasks.values():
            if entry.tdir.key == (job_id, task_id) and entry.report is None:
                entry.tdir.request_kill(sig)
                pid = entry.tdir.job_pid()
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(pid, sig)
                if entry.pid:  # a daemon's logins leave its process group: the task's whole tree
                    kill_session(entry.tdir, entry.pid, sig)


def _number(hello: dict[str, Any], key: str, default: int) -> int:
    value = hello.get(key) or default
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused(f"malformed request: {key} must be a number, not {str(value)[:40]!r}")
    return value


def _lost_report() -> dict[str, Any]:
    import time

    report = empty_report(0.0, time.time())
    report.update(failed=100, error="the pe task's shepherd ended without a report")
    return report


def on_task_ack(daemon: ExecDaemon, msg: protocol.PeTaskAck) -> None:
    daemon.inherit.acknowledged(msg.job_id, msg.task_id, msg.pe_task_id)
