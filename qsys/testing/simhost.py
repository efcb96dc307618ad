"""A simulated exec daemon: the real protocol on a real connection, jobs that only pretend.

It does what ``execd/daemon.py`` does on its master link (see :func:`open_link` for the
handshake): registers its facts and every task it still holds (running, or ended and not yet
acknowledged, with its report: so an end is repeated on every reconnection until FinishedAck),
sends load reports every ``load_report_time`` of its clock, and answers StartJob with JobStarted
(or JobFailedStart) and, when the job's time is up, JobFinished. KillJob ends a task (after the
behaviour's ``kill_delay``), SignalJob SIGSTOP/SIGCONT suspends and resumes it (suspended time
does not count towards its run), PeSlaveStart/PeSlaveEnd make it a slave host of a PE job
(optionally running one pe task there). No process is forked: a job is one timer of the clock.

Many hosts share one event loop (one coroutine and one connection per host); what they did is
counted in one :class:`SimLog` for the test to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qsys import auth, protocol
from qsys.errors import ProtocolError, QsysError
from qsys.grammar.values import parse_time
from qsys.launch import Launch
from qsys.testing.behaviour import Behaviour, Policy, exit_report, from_context
from qsys.testing.clock import Cancellable, SimClock

log = logging.getLogger("qsys.testing.simhost")

MasterAddress = tuple[str, int] | Path  # TCP (host, port) or the master's Unix socket
DEFAULT_LOAD_REPORT = 40.0
MAX_BACKOFF = 2.0
GIB = 1024**3


async def open_link(address: MasterAddress, host: str, key: bytes,
                    register: protocol.Register) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the master as exec host ``host``: Challenge, ExecdHello with the proof of the
    cluster key, Register. The one place to change when the exec link gains TLS or per-host
    secrets."""
    if isinstance(address, Path):
        reader, writer = await asyncio.open_unix_connection(str(address))
    else:
        reader, writer = await asyncio.open_connection(*address)
    try:
        challenge = await protocol.read_message(reader)
        if not isinstance(challenge, protocol.Challenge):
            raise ProtocolError(f"expected a challenge, got {type(challenge).__name__}")
        proof = auth.execd_proof(key, challenge.nonce, host)
        protocol.write_message(writer, protocol.ExecdHello(host, proof, challenge.nonce))
        protocol.write_message(writer, register)
        await writer.drain()
    except BaseException:
        writer.close()
        raise
    return reader, writer


@dataclass
class SimLog:
    """What every simulated host of a fleet did, for a test to check."""

    starts: Counter[tuple[int, int]] = field(default_factory=Counter)  # (job, task) -> runs started
    ends: Counter[tuple[int, int]] = field(default_factory=Counter)  # -> ends reported (first time)
    failed_starts: Counter[tuple[int, int]] = field(default_factory=Counter)
    acks: Counter[tuple[int, int]] = field(default_factory=Counter)
    signals: list[tuple[str, int, int, int]] = field(default_factory=list)  # host, job, task, signal
    pe_tasks: Counter[tuple[int, int, str]] = field(default_factory=Counter)  # pe tasks ended


@dataclass(slots=True)
class SimTask:
    launch: Launch
    behaviour: Behaviour
    pid: int
    start: float
    due: float | None = None  # clock time of its natural end (or its h_rt), None: until killed
    h_rt: bool = False  # ``due`` is the h_rt limit
    timer: Cancellable | None = None
    dying: bool = False  # killed, ending after the behaviour's kill_delay
    stopped_at: float | None = None  # suspended (SIGSTOP) since
    stopped: float = 0.0  # seconds suspended before
    report: protocol.ExitReport | None = None  # ended, not yet acknowledged

    @property
    def key(self) -> tuple[int, int]:
        return (self.launch.job_id, self.launch.task_id)


@dataclass(slots=True)
class SimPeTask:
    job_id: int
    task_id: int
    pe_task_id: str
    start: float
    timer: Cancellable | None = None
    report: protocol.ExitReport | None = None


class SimHost:
    """One simulated exec daemon (see the module docstring)."""

    def __init__(self, name: str, master: Callable[[], MasterAddress], key: bytes, clock: SimClock,
                 policy: Policy | None = None, slots: int = 4, mem_total: int = 64 * GIB,
                 simlog: SimLog | None = None) -> None:
        self.name = name
        self.master = master
        self.key = key
        self.clock = clock
        self.policy = policy or from_context()
        self.processors = slots
        self.mem_total = mem_total
        self.log = simlog if simlog is not None else SimLog()
        self.tasks: dict[tuple[int, int], SimTask] = {}
        self.slaves: dict[tuple[int, int], Launch] = {}  # PE jobs this host is a slave host of
        self.pe_tasks: dict[tuple[int, int, str], SimPeTask] = {}
        self.config: dict[str, str] = {}
        self.registered = asyncio.Event()  # HostConfig received on the current link
        self.links = 0  # links made (registrations)
        self.writer: asyncio.StreamWriter | None = None
        self.hung = False
        self._held: list[Any] = []  # what a hung host would have sent
        self._load_timer: Cancellable | None = None
        self._allowed = asyncio.Event()  # may (re)connect
        self._allowed.set()
        self._stopping = asyncio.Event()
        self._pid = 1000

    # ------------------------------------------------------------ life cycle

    async def run(self) -> None:
        """Keep a link to the master until :meth:`stop` (reconnecting with backoff, as the real one)."""
        backoff = 0.05
        while not self._stopping.is_set():
            await self._allowed.wait()
            if self._stopping.is_set():
                break
            try:
                await self._session()
                backoff = 0.05
            except (OSError, QsysError, asyncio.IncompleteReadError) as exc:
                log.debug("host=%s master link: %s", self.name, exc)
            if self._stopping.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
        self._drop()

    def stop(self) -> None:
        self._stopping.set()
        self._allowed.set()
        self._drop()

    def disconnect(self, stay_down: bool = True) -> None:
        """Lose the link, as when the exec daemon dies (its jobs run on, as under their
        shepherds); it reconnects and re-registers at once unless ``stay_down``, then on :meth:`connect`."""
        if stay_down:
            self._allowed.clear()
        self._drop()

    def connect(self) -> None:
        self._allowed.set()

    def hang(self) -> None:
        """Stop reading and sending (an exec daemon stopped with SIGSTOP); its jobs run on."""
        self.hung = True
        if self.writer is not None:
            self.writer.transport.pause_reading()  # type: ignore[attr-defined]

    def resume(self) -> None:
        self.hung = False
        held, self._held = self._held, []
        for msg in held:
            self.send(msg)
        if self.writer is not None:
            self.writer.transport.resume_reading()  # type: ignore[attr-defined]

    def _drop(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self._load_timer is not None:
            self._load_timer.cancel()
            self._load_timer = None
        self.registered.clear()

    # ------------------------------------------------------------ the master link

    async def _session(self) -> None:
        reader, writer = await open_link(self.master(), self.name, self.key, self.register_message())
        self.writer = writer
        self.links += 1
        try:
            self.send(protocol.PeInheritPort(self.name, 0, []))  # no real port behind a simulated host
            for pe_task in self.pe_tasks.values():
                if pe_task.report is not None:
                    self._send_pe_end(pe_task)
            while True:
                msg = await protocol.read_message(reader)
                if msg is None:
                    break
                if type(msg) not in MASTER_MESSAGES:
                    log.warning("host=%s ignoring unexpected %s", self.name, type(msg).__name__)
                    continue
                MASTER_MESSAGES.lookup(msg)(self, msg)
                if writer.transport.get_write_buffer_size() > 1 << 16:
                    await writer.drain()
        finally:
            if self.writer is writer:
                self._drop()
            writer.close()

    def register_message(self) -> protocol.Register:
        jobs = [protocol.SpoolEntry(job_id, task_id, "running" if t.report is None else "finished", t.pid, t.report)
                for (job_id, task_id), t in sorted(self.tasks.items())]
        return protocol.Register(host=self.name, arch="lx-amd64", processors=self.processors,
                                 mem_total=self.mem_total, swap_total=0, load=self.load(), jobs=jobs,
                                 sockets=1, cores=self.processors, threads=self.processors)

    def send(self, msg: Any) -> bool:
        if self.hung:
            self._held.append(msg)
            return True
        if self.writer is None or self.writer.is_closing():
            return False
        protocol.write_message(self.writer, msg)
        return True

    def load(self) -> dict[str, float]:
        """Load values as the real sampler names them, made of what runs here."""
        busy = [t for t in self.tasks.values() if t.report is None and t.stopped_at is None]
        avg = float(sum(t.behaviour.cpu * t.launch.slots for t in busy))
        used = float(sum(t.behaviour.maxrss_kb * 1024 for t in busy))
        n, total = float(self.processors), float(self.mem_total)
        values = {"num_proc": n, "mem_total": total, "mem_free": total - used, "mem_used": used,
                  "swap_total": 0.0, "swap_free": 0.0, "swap_used": 0.0, "virtual_total": total,
                  "virtual_free": total - used, "virtual_used": used, "cpu": min(100.0, 100.0 * avg / n)}
        for suffix in ("avg", "short", "medium", "long"):
            values[f"load_{suffix}"] = avg
            values[f"np_load_{suffix}"] = avg / n
        return values

    def _report_load(self) -> None:
        if not self.hung:
            self.send(protocol.LoadReport(self.name, self.load()))
        self._arm_load_reports()

    def on_config(self, msg: protocol.HostConfig) -> None:
        """The effective configuration: the link is up (registered)."""
        self.config = dict(msg.config)
        self._arm_load_reports()
        self.registered.set()

    def _arm_load_reports(self) -> None:
        if self._load_timer is not None:
            self._load_timer.cancel()
        text = self.config.get("load_report_time", "")
        every = parse_time(text) if text else DEFAULT_LOAD_REPORT
        self._load_timer = self.clock.call_later(every if every > 0 else DEFAULT_LOAD_REPORT, self._report_load)

    # ------------------------------------------------------------ tasks

    def start(self, launch: Launch) -> None:
        key = (launch.job_id, launch.task_id)
        known = self.tasks.get(key)
        if known is not None and known.report is None:
            log.warning("host=%s job=%d.%d start ignored: the task already runs here", self.name, *key)
            return
        if known is not None:
            if launch.restarted <= known.launch.restarted:
                self._report_end(known)  # the same run again: never twice, tell its end again
                return
            del self.tasks[key]  # a rerun is started only after the old end was accounted
        behaviour = self.policy(launch)
        if behaviour.fail_start:
            self.log.failed_starts[key] += 1
            self.send(protocol.JobFailedStart(launch.job_id, launch.task_id, behaviour.fail_start))
            return
        self._pid += 1
        now = self.clock.now()
        task = SimTask(launch, behaviour, self._pid, now)
        self.tasks[key] = task
        self.log.starts[key] += 1
        self.send(protocol.JobStarted(launch.job_id, launch.task_id, task.pid, now))
        run = behaviour.run
        if launch.h_rt is not None and (run is None or run > launch.h_rt):
            run, task.h_rt = launch.h_rt, True
        if behaviour.failed or run is not None and run <= 0:
            asyncio.get_running_loop().call_soon(self._end, task, now)
        elif run is not None:
            task.due = now + run
            task.timer = self.clock.call_later(run, self._end, task, task.due)

    def _end(self, task: SimTask, when: float, sig: int = 0, killed: bool = False) -> None:
        if task.report is not None or self.tasks.get(task.key) is not task:
            return
        if task.timer is not None:
            task.timer.cancel()
        stopped = task.stopped + (when - task.stopped_at if task.stopped_at is not None else 0.0)
        task.report = exit_report(task.behaviour, task.launch, task.start, when, stopped=stopped, sig=sig,
                                  killed=killed, h_rt=task.h_rt and not sig)
        self.log.ends[task.key] += 1
        self._report_end(task)

    def _report_end(self, task: SimTask) -> None:
        assert task.report is not None
        self.send(protocol.JobFinished(task.launch.job_id, task.launch.task_id, task.report))

    def kill(self, job_id: int, task_id: int, sig: int) -> None:
        task = self.tasks.get((job_id, task_id))
        if task is None:
            now = self.clock.now()
            report = protocol.ExitReport(failed=1, error="task not found on its exec host", killed=True, end_time=now)
            self.send(protocol.JobFinished(job_id, task_id, report))
            return
        if task.report is not None:
            self._report_end(task)
            return
        if task.dying:
            return
        task.dying = True
        if task.timer is not None:
            task.timer.cancel()
        delay = task.behaviour.kill_delay
        if delay > 0:
            task.timer = self.clock.call_later(delay, self._end_killed, task, sig)
        else:
            self._end(task, self.clock.now(), sig, killed=True)

    def _end_killed(self, task: SimTask, sig: int) -> None:
        self._end(task, self.clock.now(), sig, killed=True)

    def signal_task(self, job_id: int, task_id: int, sig: int) -> None:
        task = self.tasks.get((job_id, task_id))
        if task is None or task.report is not None:
            return
        self.log.signals.append((self.name, job_id, task_id, sig))
        now = self.clock.now()
        if sig == signal.SIGSTOP and task.stopped_at is None:
            task.stopped_at = now
            if task.timer is not None and not task.dying:
                task.timer.cancel()
                task.timer = None
        elif sig == signal.SIGCONT and task.stopped_at is not None:
            task.stopped += now - task.stopped_at
            if task.due is not None and not task.dying:
                task.due += now - task.stopped_at
                task.timer = self.clock.call_later(task.due - now, self._end, task, task.due)
            task.stopped_at = None

    def acknowledged(self, job_id: int, task_id: int) -> None:
        task = self.tasks.get((job_id, task_id))
        if task is not None and task.report is not None:
            del self.tasks[(job_id, task_id)]
            self.log.acks[(job_id, task_id)] += 1

    # ------------------------------------------------------------ slave host of a PE job

    def slave_start(self, launch: Launch) -> None:
        key = (launch.job_id, launch.task_id)
        if key in self.slaves:
            return
        self.slaves[key] = launch
        run = self.policy(launch).pe_task_run
        if run is None:
            return
        pe_task = SimPeTask(launch.job_id, launch.task_id, f"1.{self.name}", self.clock.now())
        self.pe_tasks[(launch.job_id, launch.task_id, pe_task.pe_task_id)] = pe_task
        self._pid += 1
        self.send(protocol.PeTaskStarted(launch.job_id, launch.task_id, pe_task.pe_task_id, self.name, self._pid))
        pe_task.timer = self.clock.call_later(run, self._end_pe_task, pe_task, 0)

    def slave_end(self, job_id: int, task_id: int, sig: int) -> None:
        self.slaves.pop((job_id, task_id), None)
        for pe_task in list(self.pe_tasks.values()):
            if (pe_task.job_id, pe_task.task_id) == (job_id, task_id) and pe_task.report is None:
                self._end_pe_task(pe_task, sig)

    def _end_pe_task(self, pe_task: SimPeTask, sig: int) -> None:
        if pe_task.report is not None:
            return
        if pe_task.timer is not None:
            pe_task.timer.cancel()
        now = self.clock.now()
        wall = max(0.0, now - pe_task.start)
        pe_task.report = protocol.ExitReport(
            exit_status=128 + sig if sig else 0, signal=sig, killed=bool(sig), start_time=pe_task.start,
            end_time=now, ru_wallclock=wall, ru_utime=wall * 0.9, ru_stime=wall * 0.1, cpu=wall,
            pe_task_id=pe_task.pe_task_id)
        self.log.pe_tasks[(pe_task.job_id, pe_task.task_id, pe_task.pe_task_id)] += 1
        self._send_pe_end(pe_task)

    def _send_pe_end(self, pe_task: SimPeTask) -> None:
        assert pe_task.report is not None
        self.send(protocol.PeTaskFinished(pe_task.job_id, pe_task.task_id, pe_task.pe_task_id, self.name,
                                          pe_task.report))

    def pe_task_acknowledged(self, job_id: int, task_id: int, pe_task_id: str) -> None:
        self.pe_tasks.pop((job_id, task_id, pe_task_id), None)


# ---------------------------------------------------------------- the handler table

Handler = Callable[[SimHost, Any], None]


def master_messages() -> protocol.HandlerTable[Handler]:
    """What a simulated exec host does with each message its master sends (the real exec
    daemon's table: ``execd.daemon.master_messages``)."""
    table: protocol.HandlerTable[Handler] = protocol.HandlerTable("master")
    for msg_type, handler in (
        (protocol.HostConfig, SimHost.on_config),
        (protocol.StartJob, lambda host, msg: host.start(Launch.from_wire(msg.job))),
        (protocol.KillJob, lambda host, msg: host.kill(msg.job_id, msg.task_id, msg.signal)),
        (protocol.SignalJob, lambda host, msg: host.signal_task(msg.job_id, msg.task_id, msg.signal)),
        (protocol.FinishedAck, lambda host, msg: host.acknowledged(msg.job_id, msg.task_id)),
        (protocol.ExecdShutdown, lambda host, msg: host.stop()),
        (protocol.PeSlaveStart, lambda host, msg: host.slave_start(Launch.from_wire(msg.job))),
        (protocol.PeSlaveEnd, lambda host, msg: host.slave_end(msg.job_id, msg.task_id, msg.signal)),
        (protocol.PeTaskAck, lambda host, msg: host.pe_task_acknowledged(msg.job_id, msg.task_id, msg.pe_task_id)),
    ):
        table.add(msg_type, handler)
    return table


MASTER_MESSAGES = master_messages()
