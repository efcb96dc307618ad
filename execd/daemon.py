"""The exec daemon's link to the master and its bookkeeping of running tasks.

Link (``qsys.execlink``): connect (TCP, in TLS when the cell has it, or the Unix socket) to
the first master candidate that greets with a Challenge (a shadow answers NotActive naming
the active master, tried next), answer it with ExecdHello (HMAC proof of the host's secret, or
of the cluster key on the master host), send Register with the host's facts and every task of
the spool (running, or finished and not yet acknowledged: the latter carry their report, so an
end is repeated on every (re)connection until FinishedAck), and take the configuration the
master answers with. Then one table maps each message type to its handler. A lost link never
touches the jobs: the daemon reconnects with backoff; a master that refuses the host (revoked,
unknown) is logged with its reason and asked again at the longest backoff.

On a joined host the daemon also serves the host's credential signer (``qsys.signer``), so
its users' commands (and its jobs') can reach the master.

Fencing (cells with master candidates): a master's Challenge carries the epoch of its lease
and how long the lease is surely its own; the daemon refuses a master with an older epoch
than one it has seen or with a lapsed lease, and obeys a link only until that time, extended
by each MasterBeat. So a master that lost its lease (stopped, cut off) is obeyed no more by
the time another can take over.

Tasks: each started task gets a spool directory and a shepherd forked by the forkserver; the
daemon watches each shepherd with a pidfd in the event loop. After a restart it adopts the
shepherds its spool names (checking the recorded start time against /proc so a reused pid
is not mistaken for one) and reads the reports of those that ended while it was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from execd import identity, inherit, lean, pehost
from execd.forkserver import ForkServerClient
from execd.gids import GidPoolExhausted
from execd.identity import IdentityPolicy
from execd.load import ARCH, LoadSampler, meminfo, topology
from execd.online import OnlineUsage, TaskProcesses
from execd.spool import Spool, TaskDir, proc_start_time, remove_retired
from execd.usage import empty_report
from qsys import execlink, protocol
from qsys.errors import (
    AuthenticationError,
    NotFound,
    PermissionDenied,
    ProtocolError,
    QsysError,
    error_from_wire,
)
from qsys.launch import Launch
from qsys.remote.sshkeys import is_qsys_sshd

log = logging.getLogger("qsys.execd")

BEFORE_JOB = 11  # the shepherd's failure code "before job" (execd.shepherd)

DEFAULT_LOAD_REPORT = 40.0
MAX_BACKOFF = 10.0
REPEAT_AFTER = 60.0  # seconds an end waits for its FinishedAck before it is sent again
CONNECT_TIMEOUT = 5.0  # seconds a connection attempt to the master may take (TLS included)
CANDIDATE_TIMEOUT = 3.0  # the same for one of several master candidates
GREETING_TIMEOUT = 3.0  # and then for it to greet (with several candidates)
LINK_TIMEOUT_MS = 20_000  # unacknowledged data on the master link for this long ends it


def _notice_dead_peer(sock: socket.socket | None) -> None:
    """A master link over a network that went down ends within ~20 s instead of after TCP's
    retransmissions (many minutes), so the daemon reconnects when the network is back."""
    if sock is None:
        return
    for level, name, value in ((socket.SOL_SOCKET, "SO_KEEPALIVE", 1), (socket.IPPROTO_TCP, "TCP_KEEPIDLE", 10),
                               (socket.IPPROTO_TCP, "TCP_KEEPINTVL", 5), (socket.IPPROTO_TCP, "TCP_KEEPCNT", 2),
                               (socket.IPPROTO_TCP, "TCP_USER_TIMEOUT", LINK_TIMEOUT_MS)):
        option = getattr(socket, name, None)
        if option is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(level, option, value)


def parse_hms(text: str, default: float = DEFAULT_LOAD_REPORT) -> float:
    """Seconds of Grid Engine's ``hh:mm:ss`` (or plain seconds); ``default`` when unreadable."""
    try:
        parts = [float(p) for p in str(text).strip().split(":")]
    except ValueError:
        return default
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds if seconds > 0 else default


MasterAddress = execlink.MasterAddress


@dataclass
class DaemonOptions:
    """``master`` is asked before every connection attempt, so a master that restarted on a
    new port (bootstrap ``master_port`` rewritten) is found again. ``key`` is what the daemon
    proves: its host secret (``joined``) or the cluster key."""

    host: str
    spool: Path
    key: bytes
    master: Callable[[], list[MasterAddress]]  # candidates, tried in order
    cell: Any = None  # the qsys.paths.Cell: TLS material, the signer's socket
    tls: bool = False
    joined: bool = False  # serve the host's credential signer
    own_paths: dict[str, str] = field(default_factory=dict)  # qsys_root, cell, binary_path of this host


@dataclass
class Tracked:
    """A task this daemon knows: its directory, its shepherd and, once ended, its report."""

    tdir: TaskDir
    pid: int = 0
    pidfd: int | None = None
    report: dict[str, Any] | None = None
    started: float = field(default_factory=time.time)
    reported: float = 0.0  # monotonic time the end was last sent (0: never)

    @property
    def label(self) -> str:
        return f"job={self.tdir.job_id}.{self.tdir.task_id}"


Handler = Callable[["ExecDaemon", Any], None]


class NotActiveMaster(QsysError):
    """A master candidate that must not be obeyed (a shadow, an older epoch, a lapsed lease)."""

    def __init__(self, message: str, redirect: tuple[str, int] | None = None) -> None:
        super().__init__(message)
        self.redirect = redirect


def _where(address: MasterAddress) -> str:
    return str(address) if isinstance(address, Path) else f"{address[0]}:{address[1]}"


class ExecDaemon:
    def __init__(self, opts: DaemonOptions) -> None:
        self.opts = opts
        self.host = opts.host
        self.spool = Spool(opts.spool)
        self.tasks: dict[tuple[int, int], Tracked] = {}
        self.config: dict[str, str] = {}
        self.writer: asyncio.StreamWriter | None = None
        self._refill_soon = False  # a refill of the forkserver's spare shepherds is due this turn
        self.outbox: protocol.Outbox | None = None  # of the current link: ends seen together leave together
        self.forks = ForkServerClient()
        self.spares = lean.Spares()
        self.sampler = LoadSampler()
        self.online = OnlineUsage()
        self.stopping = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._loader: asyncio.Task[None] | None = None
        self.epoch_seen = 0  # the newest master lease epoch met: older masters are refused
        self.link_deadline: float | None = None  # loop time the current master is obeyed until
        self.pe = pehost.PeHost(self)
        self.inherit = inherit.InheritServer(self)
        self.signer: Any = None

    # ------------------------------------------------------------ life cycle

    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.spool.ensure()
        self.forks.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self.stop, f"signal {sig}")
        for tdir in self.spool.tasks():
            self.adopt(tdir)
        self.pe.load()
        await self.inherit.start()
        if self.opts.joined and self.opts.cell is not None:
            from qsys.signer import Signer

            self.signer = Signer(str(self.opts.cell.signer_socket), self.host, self.opts.key)
            await self.signer.start()
        log.info("host=%s started (spool %s, %d tasks in spool)", self.host, self.spool.root, len(self.tasks))
        backoff = 0.1
        while not self.stopping.is_set():
            session = asyncio.ensure_future(self.session())
            stop = asyncio.ensure_future(self.stopping.wait())
            await asyncio.wait({session, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not session.done():
                session.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    registered = await session
                    if registered:
                        backoff = 0.1
                except (AuthenticationError, PermissionDenied, NotFound) as exc:  # NotFound: qconf -de
                    log.error("host=%s refused by the master: %s", self.host, exc)
                    backoff = MAX_BACKOFF / 2  # doubled below: the longest wait
                except (OSError, QsysError, asyncio.IncompleteReadError) as exc:
                    log.warning("host=%s master link: %s", self.host, exc)
                except Exception:
                    log.exception("host=%s master link failed", self.host)
            if self.stopping.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
        self.close()
        log.info("host=%s stopped; %d tasks left to their shepherds", self.host, len(self.tasks))

    def stop(self, reason: str = "") -> None:
        log.info("host=%s stopping (%s)", self.host, reason)
        self.stopping.set()

    def close(self) -> None:
        self.inherit.close()
        if self.signer is not None:
            self.signer.close()
        for tracked in self.tasks.values():
            self._unwatch(tracked)
        self.forks.stop()
        self.spares.close()
        if self.writer is not None:
            if self.outbox is not None:
                self.outbox.flush()
            self.writer.close()
            self.writer = None

    # ------------------------------------------------------------ the master link

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes, protocol.Challenge]:
        """The link to the active master, what the proof binds of its certificate, and its
        Challenge: the candidates in order, a redirect (NotActive) followed, masters with an
        older epoch or a lapsed lease refused."""
        candidates = list(self.opts.master())
        several = len(candidates) > 1
        error: Exception = ConnectionRefusedError("no master address")
        tried: list[MasterAddress] = []
        while candidates:
            address = candidates.pop(0)
            if address in tried:
                continue
            tried.append(address)
            try:
                reader, writer, binding = await asyncio.wait_for(
                    execlink.connect(address, self.opts.cell, self.opts.tls, self.opts.joined),
                    CANDIDATE_TIMEOUT if several else CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                error = exc if isinstance(exc, OSError) else TimeoutError(f"{_where(address)}: no answer")
                continue
            _notice_dead_peer(writer.get_extra_info("socket"))
            try:
                first = await asyncio.wait_for(protocol.read_message(reader), GREETING_TIMEOUT if several else None)
                self._check_master(first)
            except (OSError, TimeoutError, QsysError) as exc:
                writer.close()
                if isinstance(exc, NotActiveMaster) and exc.redirect is not None:
                    candidates.insert(0, exc.redirect)
                error = exc if not isinstance(exc, TimeoutError) else TimeoutError(f"{_where(address)}: no greeting")
                log.info("host=%s master candidate %s: %s", self.host, _where(address), error)
                continue
            assert isinstance(first, protocol.Challenge)
            return reader, writer, binding, first
        raise error

    def _check_master(self, first: Any) -> None:
        """Refuse what is not the active master (see the module's note on fencing)."""
        if isinstance(first, protocol.NotActive):
            host, _, port = first.active.rpartition(":")
            redirect = (host, int(port)) if host and port.isdigit() else None
            raise NotActiveMaster(f"not the active master (the active one: {first.active or 'unknown'})", redirect)
        if first is None:
            raise ProtocolError("the master closed the link before its challenge")
        if not isinstance(first, protocol.Challenge):
            raise ProtocolError(f"expected a challenge, got {type(first).__name__}")
        if first.epoch < self.epoch_seen:
            raise NotActiveMaster(f"a master of an older epoch ({first.epoch}, seen {self.epoch_seen})")
        if first.epoch and first.valid_for <= 0:
            raise NotActiveMaster(f"a master whose lease lapsed (epoch {first.epoch})")

    def obey_until(self, epoch: int, valid_for: float) -> None:
        """The current master (lease ``epoch``) is obeyed for ``valid_for`` more seconds."""
        assert self.loop is not None
        self.epoch_seen = max(self.epoch_seen, epoch)
        self.link_deadline = None if not epoch else self.loop.time() + valid_for

    async def _next_message(self, reader: asyncio.StreamReader) -> Any:
        """The master's next message, as long as its lease lasts."""
        if self.link_deadline is None:
            return await protocol.read_message(reader)
        assert self.loop is not None
        left = self.link_deadline - self.loop.time()
        try:
            if left <= 0:
                raise TimeoutError
            return await asyncio.wait_for(protocol.read_message(reader), left)
        except TimeoutError:
            raise ProtocolError("the master's lease ran out (no beat): looking for the active master") from None

    async def session(self) -> bool:
        """One connection: hello, register, then messages until the link ends. True once registered."""
        reader, writer, binding, challenge = await self._connect()
        registered = False
        try:
            self.obey_until(challenge.epoch, challenge.valid_for)
            msg = await execlink.handshake(reader, writer, self.host, self.opts.key, self.register_message(),
                                           binding, challenge)
            self.writer = writer  # send() gives the new link its own outbox
            registered = True
            log.info("host=%s registered with the master (%d tasks reported)", self.host, len(self.tasks))
            self.inherit.link_up()
            while True:
                if msg is not None:
                    self._handle(msg)
                    if self.writer is not None:
                        await writer.drain()
                try:
                    msg = await self._next_message(reader)
                except protocol.MalformedMessage as exc:  # a whole frame: skip it, keep the link
                    log.error("host=%s ignoring a message of the master: %s", self.host, exc)
                    msg = None
                    continue
                if msg is None:
                    log.warning("host=%s master closed the link", self.host)
                    break
                if isinstance(msg, protocol.Fail):  # refused (e.g. no exec host any more): back off
                    raise error_from_wire(msg.kind, msg.message)
        finally:
            if self._loader is not None:
                self._loader.cancel()
                self._loader = None
            if self.writer is writer:
                self.writer = None
            self.link_deadline = None
            writer.close()
        return registered

    def _handle(self, msg: Any) -> None:
        """One message of the master, by the handler table; one that fails is logged only."""
        if type(msg) not in MASTER_MESSAGES:
            log.warning("host=%s ignoring unexpected %s", self.host, type(msg).__name__)
            return
        try:
            MASTER_MESSAGES.lookup(msg)(self, msg)
        except Exception:  # one bad message must not take the link (or the jobs) down
            log.exception("host=%s handling %s failed", self.host, type(msg).__name__)

    def register_message(self) -> protocol.Register:
        topo = topology()
        try:
            mem = meminfo()
        except OSError:
            mem = {}
        jobs = [protocol.SpoolEntry(job_id, task_id, "running" if tracked.report is None else "finished", tracked.pid,
                                    None if tracked.report is None else protocol.exit_report(tracked.report))
                for (job_id, task_id), tracked in sorted(self.tasks.items())]
        return protocol.Register(host=self.host, arch=ARCH, processors=topo.processors,
                                 mem_total=mem.get("MemTotal", 0), swap_total=mem.get("SwapTotal", 0),
                                 load=self.sampler.sample(), jobs=jobs, sockets=topo.sockets,
                                 cores=topo.cores, threads=topo.threads)

    def send(self, msg: Any) -> bool:
        if self.writer is None or self.writer.is_closing():
            return False
        if self.outbox is None or self.outbox.writer is not self.writer:
            self.outbox = protocol.Outbox(self.writer)
        self.outbox.put(msg)
        return True

    def restart_load_reports(self) -> None:
        """(Re)start the periodic load reports (at link up and when load_report_time may change)."""
        if self._loader is not None:
            self._loader.cancel()
        self._loader = asyncio.ensure_future(self._load_loop())

    async def _load_loop(self) -> None:
        while True:
            interval = parse_hms(self.config.get("load_report_time", ""))
            await asyncio.sleep(interval)
            report = protocol.LoadReport(self.host, self.sampler.sample(), self.spool_free(),
                                         self.online.sample(self.running_tasks()))
            if self.send(report) and self.writer is not None:
                self.repeat_ends(max(REPEAT_AFTER, 6 * interval))
                await self.writer.drain()

    def spool_free(self) -> int:
        """Bytes the spool's file system has free for this daemon (-1: cannot tell)."""
        try:
            st = os.statvfs(self.spool.root)
        except OSError:
            return -1
        return st.f_bavail * st.f_frsize

    def repeat_ends(self, older_than: float) -> None:
        """Send again the ends the master has not acknowledged for a while (as Grid Engine's
        execd repeats its job reports): a safety net for an end the master could not store."""
        now = time.monotonic()
        for tracked in list(self.tasks.values()):
            if tracked.report is not None and now - tracked.reported >= older_than:
                self._report_end(tracked)

    def running_tasks(self) -> dict[tuple[int, int], TaskProcesses]:
        """Where the processes of each task running here are (its shepherds, its group ID):
        master tasks and the slave records of PE jobs, with their qrsh -inherit tasks."""
        inherit = self.inherit.shepherds()
        out: dict[tuple[int, int], TaskProcesses] = {}
        for key, tracked in self.tasks.items():
            if tracked.report is None and tracked.pid:
                out[key] = TaskProcesses([tracked.pid, *inherit.get(key, [])], self.pe.gid_of_task(*key))
        for key, launch in self.pe.slaves.items():
            if key not in out:
                out[key] = TaskProcesses(inherit.get(key, []), launch.extra_gid)
        return out

    # ------------------------------------------------------------ tasks

    def execd_conf(self) -> dict[str, Any]:
        conf = IdentityPolicy.from_conf(self.config).to_conf()
        conf.update(self.opts.own_paths)  # this host's root and commands, not the master's
        conf["spool"] = str(self.spool.root)
        conf["rsh_command"] = self.config.get("rsh_command", "builtin")  # for the job's qrsh -inherit
        return conf

    def start(self, launch: Launch) -> None:
        key = (launch.job_id, launch.task_id)
        label = f"job={launch.task_key}"
        known = self.tasks.get(key)
        if known is not None and known.report is None:
            log.warning("%s start ignored: the task already runs here", label)
            return
        if known is not None:
            if launch.restarted <= self._restarted(known):
                # the same run again (the master lost track of it): never run a job twice,
                # tell its end once more instead
                log.warning("%s start of a run that already ended here: reporting its end again", label)
                self._report_end(known)
                return
            # a rerun is started only after the master accounted the old end: that is an
            # acknowledgement, even when the FinishedAck itself is still on its way
            self.acknowledged(*key)
        if launch.session is not None and self._refuse_session(launch):
            return
        try:
            self.pe.assign_gid(launch)
        except GidPoolExhausted as exc:
            log.error("%s cannot start: %s", label, exc)
            self.send(protocol.JobFailedStart(launch.job_id, launch.task_id, str(exc)))
            return
        conf = self.execd_conf()
        lean_path = lean.binary() if lean.eligible(launch) else None
        try:
            tdir = self.spool.create_task(launch, None if lean_path else conf)
        except OSError as exc:
            log.error("%s cannot write its spool directory: %s", label, exc)
            with contextlib.suppress(OSError):
                self.spool.task_dir(launch.job_id, launch.task_id).remove()  # no half-written task
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            self.send(protocol.JobFailedStart(launch.job_id, launch.task_id, f"exec spool: {exc}", spool_full=full))
            return
        listener = None
        addresses: list[str] = []
        try:
            if launch.session is not None:
                from execd import startup

                listener, addresses = startup.session_listener(launch.session)
            pid = self._spawn_lean(lean_path, tdir, launch, conf) if lean_path else None
            if pid is None:
                if lean_path:
                    tdir.write_execd_conf(conf)  # what the Python shepherd reads
                pid = self.forks.fork(str(tdir.path), listener.fileno() if listener else None)
        except OSError as exc:
            log.error("%s cannot fork a shepherd: %s", label, exc)
            tdir.remove()
            self.send(protocol.JobFailedStart(launch.job_id, launch.task_id, f"shepherd fork: {exc}"))
            return
        finally:
            port = listener.getsockname()[1] if listener else 0
            if listener is not None:
                listener.close()  # the shepherd holds it now
        tracked = Tracked(tdir, pid)
        self.tasks[key] = tracked
        self.send(protocol.JobStarted(launch.job_id, launch.task_id, pid, tracked.started))
        if listener is not None:
            self.send(protocol.SessionReady(launch.job_id, launch.task_id, port, addresses))
            log.info("%s session (%s) listens on port %d", label, (launch.session or {}).get("method"), port)
        log.info("%s started (shepherd pid %d)", label, pid)
        self._watch(tracked, None)
        if not self._refill_soon:
            self._refill_soon = True
            asyncio.get_running_loop().call_soon(self._refill_spares)

    def _spawn_lean(self, path: str, tdir: TaskDir, launch: Launch, conf: dict[str, Any]) -> int | None:
        """Start the task under the lean shepherd ``path`` (its pid), None when it is the
        Python shepherd's (see ``execd.lean``): the audit line is written here, as the decision is."""
        prepared = lean.prepare(tdir, launch, conf)
        if prepared is None:
            return None
        plan, ident = prepared
        try:
            lean.write_plan(tdir, plan)
            pid = self.spares.take(path, str(tdir.path))  # a spare, else a spawn (~7 ms of this loop)
            if pid is None:
                pid = lean.start(path, tdir)
        except OSError as exc:
            log.warning("job=%s lean shepherd %s: %s (the Python shepherd starts it)", launch.task_key, path, exc)
            return None
        identity.audit(self.spool.root / "audit", launch, ident, identity.action_of(ident))
        return pid

    def _refill_spares(self) -> None:
        """After this turn's starts (and the JobStarted they sent, queued before this)."""
        self._refill_soon = False
        self.forks.refill()

    def _refuse_session(self, launch: Launch) -> bool:
        """A session the identity policy refuses ends before it starts: the client hears why
        (SessionReady with the audit line's reason) and the job ends as failed "before job"
        instead of waiting in error state for a client that is gone. True when refused."""
        try:
            identity.decide(IdentityPolicy.from_conf(self.config), launch)
            return False
        except identity.IdentityRefused as exc:
            reason = str(exc)
        identity.audit(self.spool.root / "audit", launch, None, "refuse", reason)
        log.warning("job=%s session refused: %s", launch.task_key, reason)
        key = (launch.job_id, launch.task_id)
        report = empty_report(0.0, time.time())
        report.update(failed=BEFORE_JOB, error=reason)
        self.send(protocol.SessionReady(launch.job_id, launch.task_id, error=reason))
        try:
            tdir = self.spool.create_task(launch, self.execd_conf())
            tdir.write_error(reason)
            tdir.write_exit(report)
        except OSError as exc:
            self.send(protocol.JobFailedStart(launch.job_id, launch.task_id, f"exec spool: {exc}", error_state=True))
            return True
        tracked = Tracked(tdir, report=report)
        self.tasks[key] = tracked
        self._report_end(tracked)
        return True

    @staticmethod
    def _restarted(tracked: Tracked) -> int:
        try:
            return tracked.tdir.launch().restarted
        except (OSError, ValueError, TypeError):
            return 0

    def adopt(self, tdir: TaskDir) -> None:
        """Take over a task found in the spool at start."""
        tracked = Tracked(tdir)
        self.tasks[tdir.key] = tracked
        report = tdir.exit_report()
        if report is not None:
            tracked.report = report
            log.info("%s ended while the daemon was away", tracked.label)
            return
        rec = tdir.shepherd_pid()
        if rec is None:
            self._lost(tracked, "the shepherd never started")
            return
        tracked.pid = rec[0]
        self._watch(tracked, rec[1])
        if tracked.report is None:
            log.info("%s still runs (shepherd pid %d): watching it again", tracked.label, tracked.pid)

    def _watch(self, tracked: Tracked, start_time: int | None) -> None:
        """Call ``_ended`` when the shepherd exits (now, when it is gone already)."""
        try:
            pidfd = os.pidfd_open(tracked.pid)
        except ProcessLookupError:
            self._ended(tracked)
            return
        if start_time is not None and proc_start_time(tracked.pid) != start_time:
            os.close(pidfd)  # the pid now names another process: our shepherd is gone
            self._ended(tracked)
            return
        tracked.pidfd = pidfd
        assert self.loop is not None
        self.loop.add_reader(pidfd, self._ended, tracked)

    def _unwatch(self, tracked: Tracked) -> None:
        if tracked.pidfd is not None:
            if self.loop is not None:
                self.loop.remove_reader(tracked.pidfd)
            os.close(tracked.pidfd)
            tracked.pidfd = None

    def _ended(self, tracked: Tracked) -> None:
        self._unwatch(tracked)
        if tracked.pid > 0:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(tracked.pid, os.WNOHANG)  # a lean shepherd is our child (the forkserver's are not)
        report = tracked.tdir.exit_report()
        if report is None:
            ran = tracked.tdir.job_pid() is not None
            self._lost(tracked, "the shepherd ended without a report", after_job=ran)
            return
        tracked.report = report
        log.info("%s ended: exit_status=%s signal=%s failed=%s", tracked.label, report.get("exit_status"),
                 report.get("signal"), report.get("failed"))
        self._report_end(tracked)

    def _lost(self, tracked: Tracked, why: str, after_job: bool = False) -> None:
        """A shepherd that vanished without a report: write one so the master learns the end."""
        report = empty_report(0.0, time.time())
        when = "assumedly after job" if after_job else "assumedly before job"
        report.update(failed=100 if after_job else 1, error=f"{why} ({when})")
        tracked.tdir.remove_tmpdir()
        with contextlib.suppress(OSError):
            tracked.tdir.write_exit(report)
        tracked.report = report
        log.warning("%s %s", tracked.label, why)
        self._report_end(tracked)

    def _report_end(self, tracked: Tracked) -> None:
        assert tracked.report is not None
        tracked.reported = time.monotonic()
        self.send(protocol.JobFinished(tracked.tdir.job_id, tracked.tdir.task_id, protocol.exit_report(tracked.report)))

    def kill(self, job_id: int, task_id: int, sig: int) -> None:
        tracked = self.tasks.get((job_id, task_id))
        label = f"job={job_id}.{task_id}"
        if tracked is None:
            log.warning("%s kill: not on this host; reporting it ended", label)
            report = empty_report(0.0, time.time())
            report.update(failed=1, error="task not found on its exec host", killed=True)
            self.send(protocol.JobFinished(job_id, task_id, protocol.exit_report(report)))
            return
        if tracked.report is not None:
            self._report_end(tracked)  # it ended already: say so again
            return
        tracked.tdir.request_kill(sig)
        pid = tracked.tdir.job_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
        self.pe.kill_group(job_id, task_id, sig)  # also what left the process group (or came via sshd)
        self.inherit.kill(job_id, task_id, sig)  # pe tasks here, also those started through a daemon
        from execd import startup

        startup.kill_session(tracked.tdir, tracked.pid, sig)
        log.info("%s signal %d sent", label, sig)

    def signal_task(self, job_id: int, task_id: int, sig: int) -> None:
        """Stop or continue a task's processes (suspension); the task keeps running. On the
        master task's host: its process group; on every host of a parallel job: its qrsh
        -inherit tasks and the processes carrying its group ID (a slave host has only these)."""
        tracked = self.tasks.get((job_id, task_id))
        pid = tracked.tdir.job_pid() if tracked is not None and tracked.report is None else None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
        tasks = self.inherit.signal(job_id, task_id, sig)
        carriers = self.pe.kill_group(job_id, task_id, sig) if pid is not None or (job_id, task_id) in self.pe.slaves \
            else 0
        if pid is not None or tasks or carriers:
            log.info("job=%d.%d signal %d sent (suspension; %d pe tasks, %d group ID carriers)", job_id, task_id,
                     sig, tasks, carriers)

    def migrate(self, job_id: int, task_id: int) -> None:
        """A checkpointing job is to migrate: its shepherd runs migr_command and ends it."""
        tracked = self.tasks.get((job_id, task_id))
        if tracked is None or tracked.report is not None:
            return
        with contextlib.suppress(OSError):
            tracked.tdir.request_migrate()
        log.info("job=%d.%d migration requested", job_id, task_id)

    def acknowledged(self, job_id: int, task_id: int) -> None:
        tracked = self.tasks.get((job_id, task_id))
        if tracked is None or tracked.report is None:
            return
        del self.tasks[(job_id, task_id)]
        self.pe.forget(tracked.tdir.path)
        retired = tracked.tdir.retire()  # out of the spool now, its unlinks off the loop
        if self.loop is not None and retired is not None:
            self.loop.run_in_executor(None, remove_retired, retired)
        else:
            remove_retired(retired)
        log.debug("%s end acknowledged", tracked.label)


# ---------------------------------------------------------------- the handler table


def _on_config(daemon: ExecDaemon, msg: protocol.HostConfig) -> None:
    daemon.config = dict(msg.config)
    if daemon.opts.joined:
        _keep_master_candidates(daemon, msg.master_candidates)
    if daemon.writer is not None:
        daemon.restart_load_reports()
    if any(is_qsys_sshd(daemon.config.get(f"{m}_daemon")) for m in ("rsh", "rlogin", "qlogin")) \
            and "execd.sshd" not in daemon.forks.preloads and daemon.loop is not None:
        daemon.loop.run_in_executor(None, _preload, daemon, "execd.sshd")
    log.info("host=%s configuration: mode=%s load_report_time=%s", daemon.host,
             daemon.config.get("execd_mode", "personal"), daemon.config.get("load_report_time"))


def _keep_master_candidates(daemon: ExecDaemon, candidates: str) -> None:
    """A joined host's own bootstrap names the master hosts the master names now (tried in
    that order when the link is lost)."""
    cell = daemon.opts.cell
    boot = cell.bootstrap()
    if not boot or boot.get("master_candidates", "") == candidates:
        return
    boot.pop("master_candidates", None)
    cell.write_bootstrap({**boot, "master_candidates": candidates} if candidates else boot)
    log.info("host=%s master_candidates now %r", daemon.host, candidates)


def _preload(daemon: ExecDaemon, module: str) -> None:
    """Shepherds forked from now on have ``module`` (qsys-sshd sessions start ~0.3 s sooner)."""
    answer = daemon.forks.preload(module)
    log.info("host=%s forkserver preload %s: %s", daemon.host, module, answer)


def _on_start(daemon: ExecDaemon, msg: protocol.StartJob) -> None:
    try:
        launch = Launch.from_wire(msg.job)
    except (TypeError, ValueError, KeyError) as exc:
        log.error("host=%s malformed start of job=%s.%s: %s", daemon.host, msg.job.get("job_id"),
                  msg.job.get("task_id"), exc)
        ids = [value if isinstance(value, int) else 0 for value in (msg.job.get("job_id"), msg.job.get("task_id"))]
        daemon.send(protocol.JobFailedStart(ids[0], ids[1], f"malformed start request: {exc}", error_state=True))
        return
    daemon.start(launch)


def _on_kill(daemon: ExecDaemon, msg: protocol.KillJob) -> None:
    daemon.kill(msg.job_id, msg.task_id, msg.signal)


def _on_signal(daemon: ExecDaemon, msg: protocol.SignalJob) -> None:
    daemon.signal_task(msg.job_id, msg.task_id, msg.signal)


def _on_migrate(daemon: ExecDaemon, msg: protocol.MigrateJob) -> None:
    daemon.migrate(msg.job_id, msg.task_id)


def _on_ack(daemon: ExecDaemon, msg: protocol.FinishedAck) -> None:
    daemon.acknowledged(msg.job_id, msg.task_id)


def _on_beat(daemon: ExecDaemon, msg: protocol.MasterBeat) -> None:
    if msg.epoch != daemon.epoch_seen:
        log.warning("host=%s beat of epoch %d on a link of epoch %d: leaving the link", daemon.host, msg.epoch,
                    daemon.epoch_seen)
        daemon.obey_until(daemon.epoch_seen, 0.0)
        return
    daemon.obey_until(msg.epoch, msg.valid_for)


def _on_shutdown(daemon: ExecDaemon, msg: protocol.ExecdShutdown) -> None:
    daemon.stop(f"master: {msg.reason}" if msg.reason else "master asked")


def master_messages() -> protocol.HandlerTable[Handler]:
    """What the exec daemon does with each message its master sends."""
    table: protocol.HandlerTable[Handler] = protocol.HandlerTable("master")
    table.add(protocol.HostConfig, _on_config)
    table.add(protocol.StartJob, _on_start)
    table.add(protocol.KillJob, _on_kill)
    table.add(protocol.SignalJob, _on_signal)
    table.add(protocol.MigrateJob, _on_migrate)
    table.add(protocol.FinishedAck, _on_ack)
    table.add(protocol.ExecdShutdown, _on_shutdown)
    table.add(protocol.MasterBeat, _on_beat)
    table.add(protocol.PeSlaveStart, pehost.on_slave_start)
    table.add(protocol.PeSlaveEnd, pehost.on_slave_end)
    table.add(protocol.PeTaskAck, inherit.on_task_ack)
    return table


MASTER_MESSAGES = master_messages()
