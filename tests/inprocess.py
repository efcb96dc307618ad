"""A master built in the test's process (``build_master``) and run in a thread of its own, on
its real sockets: for tests that send it thousands of requests (hypothesis) without a
process per request, and for tests that look at its memory.

``master_thread(cell)``: the master on its Unix socket until the block ends.
``MasterThread``: the master on a thread with real commands against it; ``call(fn)`` runs
``fn(daemon)`` inside the master's event loop (memory is only ever read or changed there).
``RefusingStore`` makes the store refuse the batches a predicate picks, the way SQLite
refuses them when the disk is full; ``memory_matches_store`` says where memory and store differ.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from qsys import protocol
from qsys.cluster import new_cell
from qsys.master.main import MasterDaemon, build_master
from qsys.paths import Cell
from qsys.store import Change, StoreError


def new_test_cell(root: Path, hosts: int = 1) -> Cell:
    cell = Cell(root, "default")
    new_cell(cell, hosts=hosts, slots=2, port=0, store_url=None)
    return cell


@contextmanager
def master_thread(cell: Cell) -> Iterator[MasterDaemon]:
    """The cell's master serving on its Unix socket (no TCP) until the block ends."""
    loop = asyncio.new_event_loop()
    daemon = build_master(cell, port=None)
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(daemon.start())
        except BaseException as exc:  # noqa: B036 - handed to the test thread
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_until_complete(daemon.state.stopping.wait())
        loop.run_until_complete(daemon.stop())

    thread = threading.Thread(target=run, name="master", daemon=True)
    thread.start()
    started.wait(30)
    if failure:
        raise failure[0]
    try:
        yield daemon
    finally:
        loop.call_soon_threadsafe(daemon.state.stopping.set)
        thread.join(30)
        loop.close()


def handshake(cell: Cell, timeout: float = 10.0) -> socket.socket:
    """A Unix connection to the master past its handshake (the kernel names the caller)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(str(cell.master_socket))
    assert isinstance(protocol.recv_sync(sock), protocol.Challenge)
    protocol.send_sync(sock, protocol.Hello())
    assert isinstance(protocol.recv_sync(sock), protocol.Welcome)
    return sock


def send_frame(sock: socket.socket, payload: bytes, length: int | None = None) -> None:
    """``payload`` as one frame (``length``: what the header claims, to lie about it)."""
    sock.sendall(struct.pack(">I", len(payload) if length is None else length) + payload)


def recv_reply(sock: socket.socket) -> Any:
    return protocol.recv_sync(sock)


T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent
DISK_FULL = "database or disk is full"


class RefusingStore:
    """Wraps a store's ``apply``: batches ``refuse(changes)`` picks fail as a full disk does."""

    def __init__(self, daemon: MasterDaemon) -> None:
        self.store = daemon.store
        self.inner = daemon.store.apply
        self.refuse: Callable[[Sequence[Change]], bool] = lambda changes: False
        self.refused = 0
        daemon.store.apply = self.apply  # type: ignore[method-assign]

    def apply(self, changes: Sequence[Change]) -> None:
        if self.refuse(changes):
            self.refused += 1
            refusal = StoreError(f"store write failed: {DISK_FULL}")
            refusal.reason = DISK_FULL  # what SQLite says
            raise refusal
        self.inner(changes)


class MasterThread:
    """``build_master(cell)`` started on its own thread and event loop."""

    def __init__(self, root: Path, slots: int = 2, store_url: str | None = None) -> None:
        self.cell = Cell(root, "default")
        if not self.cell.bootstrap():
            new_cell(self.cell, hosts=1, slots=slots, port=0, store_url=store_url)
        self.loop = asyncio.new_event_loop()
        self.daemon: MasterDaemon | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="master", daemon=True)
        self.execds: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> MasterThread:
        self._thread.start()
        self.daemon = self.run(self._start())
        return self

    async def _start(self) -> MasterDaemon:
        daemon = build_master(self.cell, port=None)
        await daemon.start()
        return daemon

    def __exit__(self, *exc: object) -> None:
        for proc in self.execds:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.daemon is not None:
            self.run(self.daemon.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def call(self, fn: Callable[[MasterDaemon], T]) -> T:
        """``fn(daemon)`` in the master's loop; its result."""
        done: Future[T] = Future()

        def inside() -> None:
            try:
                assert self.daemon is not None
                done.set_result(fn(self.daemon))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(inside)
        return done.result(30)

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, QSYS_ROOT=str(self.cell.root), QSYS_CELL=self.cell.name, PYTHONPATH=str(REPO))

    def command(self, program: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a q-command (``qsub``, ``qstat``, ...) against this master."""
        script = Path(sys.executable).parent / program  # PYTHONPATH makes it run this tree's code
        argv = [str(script), *args] if script.exists() else [sys.executable, "-m", f"qsys.cli.{program}", *args]
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout, cwd="/tmp")

    def start_execd(self, host: str = "node1") -> subprocess.Popen[bytes]:
        log = open(self.cell.root / f"execd-{host}.out", "ab")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "execd.main", "--foreground", "--host", host],
                                env=self.env, stdout=log, stderr=log, cwd="/")
        self.execds.append(proc)
        return proc


def memory_matches_store(daemon: MasterDaemon) -> list[str]:
    """Where the master's memory differs from what its store holds (jobs, tasks, counter,
    queue instance states): empty when a refused change left no trace."""
    from qsys.store.image import unpack
    from qsys.store.store import pack

    state = daemon.state
    image = daemon.store.image
    out = []
    for job_id, job in state.jobs.items():
        if image.job(job_id) != unpack(pack(job.to_record())):
            out.append(f"job {job_id} differs")
        stored = image.tasks_of(job_id)
        for task_id, task in job.tasks.items():
            mine = unpack(pack(task.to_record()))
            theirs = stored.get(task_id)
            if theirs is None:
                out.append(f"task {job_id}.{task_id} is not stored")
            elif {k: v for k, v in mine.items() if k not in ("state", "start_time", "pid")} != \
                    {k: v for k, v in theirs.items() if k not in ("state", "start_time", "pid")}:
                out.append(f"task {job_id}.{task_id} differs")
        for task_id in set(stored) - set(job.tasks):
            out.append(f"task {job_id}.{task_id} is stored only")
    for job_id in set(image.jobs) - set(state.jobs):
        out.append(f"job {job_id} is stored only")
    if state.next_job_id != max(image.counters.get("next_job_id", 1), max(state.jobs, default=0) + 1):
        out.append(f"next job id {state.next_job_id}, stored {image.counters.get('next_job_id')}")
    stored_states = {name: rec.get("states", "") for (kind, name), blob in image.objects.items()
                     if kind == "qinstance_state" for rec in [unpack(blob)]}
    if {k: v for k, v in daemon.qstates.manual.items() if v} != {k: v for k, v in stored_states.items() if v}:
        out.append(f"queue states {daemon.qstates.manual} differ from stored {stored_states}")
    return out
