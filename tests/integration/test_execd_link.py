"""The exec daemon against a fake master that speaks the real protocol over a real socket."""

from __future__ import annotations

import asyncio
import os
import pwd
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from qsys import auth, protocol
from qsys.launch import Launch
from qsys.paths import Cell

REPO = Path(__file__).resolve().parents[2]
HOST = "nodex"
DEADLINE = 30.0


class FakeMaster:
    """Accepts exec daemons, records every message, lets the test send and acknowledge."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.messages: list[tuple[int, Any]] = []  # (connection number, message)
        self.registers: list[protocol.Register] = []
        self.writer: asyncio.StreamWriter | None = None
        self.connections = 0
        self.changed = asyncio.Event()
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonce = auth.new_nonce()
        protocol.write_message(writer, protocol.Challenge(nonce))
        hello = await protocol.read_message(reader)
        assert isinstance(hello, protocol.ExecdHello) and hello.nonce == nonce
        auth.check_execd_proof(self.key, nonce, hello.host, hello.proof)
        reg = await protocol.read_message(reader)
        assert isinstance(reg, protocol.Register)
        self.connections += 1
        number = self.connections
        self.registers.append(reg)
        self.writer = writer
        protocol.write_message(writer, protocol.HostConfig({"load_report_time": "00:00:01",
                                                            "execd_mode": "personal"}))
        self.changed.set()
        try:
            while (msg := await protocol.read_message(reader)) is not None:
                self.messages.append((number, msg))
                self.changed.set()
        except Exception:
            pass
        finally:
            if self.writer is writer:
                self.writer = None
            self.changed.set()

    def send(self, msg: Any) -> None:
        assert self.writer is not None
        protocol.write_message(self.writer, msg)

    def drop_link(self) -> None:
        assert self.writer is not None
        self.writer.close()
        self.writer = None

    async def until(self, predicate: Callable[[], Any], what: str) -> Any:
        async def wait() -> Any:
            while not (result := predicate()):
                self.changed.clear()
                try:
                    await asyncio.wait_for(self.changed.wait(), 0.2)
                except TimeoutError:
                    pass
            return result
        try:
            return await asyncio.wait_for(wait(), DEADLINE)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}; got {self.messages}") from None

    def of(self, kind: type, job_id: int | None = None) -> list[Any]:
        return [m for _, m in self.messages if isinstance(m, kind) and (job_id is None or getattr(m, "job_id", None) == job_id)]

    def finished_reports(self, job_id: int) -> list[dict[str, Any]]:
        """Every end of ``job_id`` the master heard: JobFinished messages and Register entries."""
        ends = [m.report for m in self.of(protocol.JobFinished, job_id)]
        for reg in self.registers:
            ends += [j.report for j in reg.jobs if j.job_id == job_id and j.state == "finished"]
        return ends


@pytest.fixture
def cell_root(qsys_root: Path) -> Path:
    """A directory every user can traverse (conftest's qsys_root)."""
    return qsys_root


@asynccontextmanager
async def fake_master(root: Path) -> AsyncIterator[tuple[FakeMaster, Callable[[], subprocess.Popen[bytes]]]]:
    cell = Cell(root, "default")
    key = auth.create_key(cell.key_file)
    master = FakeMaster(key)
    port = await master.start()
    procs: list[subprocess.Popen[bytes]] = []

    def start_daemon() -> subprocess.Popen[bytes]:
        env = dict(os.environ, QSYS_ROOT=str(root), QSYS_CELL="default")
        argv = [sys.executable, "-m", "execd.main", "--foreground", "--host", HOST,
                "--master", f"127.0.0.1:{port}"]
        log = open(root / "execd.out", "ab")  # noqa: SIM115
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log, cwd=REPO)
        procs.append(proc)
        return proc

    try:
        yield master, start_daemon
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert master.server is not None
        master.server.close()


def launch_map(root: Path, job_id: int, text: str, name: str = "") -> dict[str, Any]:
    me = pwd.getpwuid(os.getuid())
    spec = {"command": "job.sh", "args": [], "binary": False, "script": text.encode(), "name": name or f"j{job_id}",
            "cwd": str(root), "stdout_paths": [], "stderr_paths": [], "join": False, "env": {},
            "submit_env": {}, "tasks": None}
    return Launch(job_id=job_id, task_id=1, is_array=False, spec=spec, owner=me.pw_name, uid=me.pw_uid,
                  group="", gid=os.getgid(), queue="all.q", host=HOST, slots=1, total_slots=1,
                  tmpdir_base=str(root)).to_wire()


def spool_task(root: Path, job_id: int) -> Path:
    return Cell(root, "default").execd_spool(HOST) / "active_jobs" / f"{job_id}.1"


def test_register_start_finish_repeat_until_ack(cell_root: Path) -> None:
    async def scenario() -> None:
        async with fake_master(cell_root) as (master, start_daemon):
            start_daemon()
            await master.until(lambda: master.writer, "registration")
            reg = master.registers[0]
            assert reg.host == HOST and reg.arch == "lx-amd64" and reg.processors >= 1
            assert reg.mem_total > 0 and "load_avg" in reg.load and reg.jobs == []
            await master.until(lambda: master.of(protocol.LoadReport), "a load report")

            master.send(protocol.StartJob(launch_map(cell_root, 5, "echo hello; exit 3\n", "hello")))
            started = await master.until(lambda: master.of(protocol.JobStarted, 5), "JobStarted")
            assert started[0].pid > 0
            done = await master.until(lambda: master.of(protocol.JobFinished, 5), "JobFinished")
            assert done[0].report.exit_status == 3 and done[0].report.failed == 0
            assert (cell_root / "hello.o5").read_text() == "hello\n"

            # not acknowledged: the end is repeated on the next connection
            master.drop_link()
            await master.until(lambda: master.connections == 2 and master.writer, "a reconnection")
            again = [j for j in master.registers[1].jobs if j.job_id == 5]
            assert again and again[0].state == "finished" and again[0].report.exit_status == 3
            assert spool_task(cell_root, 5).exists()

            master.send(protocol.FinishedAck(5, 1))
            await master.until(lambda: not spool_task(cell_root, 5).exists(), "the spool dir to go")
            master.drop_link()
            await master.until(lambda: master.connections == 3 and master.writer, "another reconnection")
            assert master.registers[2].jobs == []

            # KillJob ends a running task and says it was killed
            master.send(protocol.StartJob(launch_map(cell_root, 6, "sleep 60\n")))
            await master.until(lambda: master.of(protocol.JobStarted, 6), "JobStarted 6")
            await master.until(lambda: (spool_task(cell_root, 6) / "job.pid").exists(), "job.pid")
            master.send(protocol.KillJob(6, 1, 9))
            killed = await master.until(lambda: master.of(protocol.JobFinished, 6), "the killed job's end")
            assert killed[0].report.signal == 9 and killed[0].report.killed is True

            # a start that cannot work is reported, not lost
            bad = launch_map(cell_root, 7, "true\n")
            bad["spec"]["cwd"] = str(cell_root / "missing")
            master.send(protocol.StartJob(bad))
            failed = await master.until(lambda: master.of(protocol.JobFinished, 7), "the failed start")
            assert failed[0].report.failed == 28 and failed[0].report.error_state is True

            # the same run started again before its FinishedAck: it does not run twice, its end
            # is told again
            master.send(protocol.StartJob(launch_map(cell_root, 7, "exit 2\n")))
            ends = await master.until(lambda: len(master.of(protocol.JobFinished, 7)) == 2 and
                                      master.of(protocol.JobFinished, 7), "the end told again")
            assert ends[1].report == ends[0].report
            # a rerun (restarted + 1) started before the FinishedAck: the old end counts as
            # acknowledged and the new run reports its own end
            rerun = launch_map(cell_root, 7, "exit 2\n")
            rerun["restarted"] = 1
            master.send(protocol.StartJob(rerun))
            ends = await master.until(lambda: len(master.of(protocol.JobFinished, 7)) == 3 and
                                      master.of(protocol.JobFinished, 7), "the rerun's end")
            assert ends[2].report.failed == 0 and ends[2].report.exit_status == 2

    asyncio.run(scenario())


def test_kill_9_daemon_jobs_run_on_and_each_end_arrives_once(cell_root: Path) -> None:
    async def scenario() -> None:
        async with fake_master(cell_root) as (master, start_daemon):
            daemon = start_daemon()
            await master.until(lambda: master.writer, "registration")
            flag = cell_root / "release"
            # job 1 ends while the daemon is down; job 2 runs on after the restart
            master.send(protocol.StartJob(launch_map(cell_root, 1, f"while [ ! -e {flag}.1 ]; do sleep 0.05; done; exit 4\n")))
            master.send(protocol.StartJob(launch_map(cell_root, 2, f"while [ ! -e {flag}.2 ]; do sleep 0.05; done; exit 6\n")))
            await master.until(lambda: len(master.of(protocol.JobStarted)) == 2, "both starts")
            await master.until(lambda: all((spool_task(cell_root, j) / "job.pid").exists() for j in (1, 2)),
                               "both jobs forked")
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
            await master.until(lambda: master.writer is None, "the link to drop")
            Path(f"{flag}.1").touch()
            await asyncio.to_thread(_wait_file, spool_task(cell_root, 1) / "exit.json")

            start_daemon()
            await master.until(lambda: master.connections == 2 and master.writer, "re-registration")
            jobs = {j.job_id: j for j in master.registers[1].jobs}
            assert jobs[1].state == "finished" and jobs[1].report.exit_status == 4
            assert jobs[2].state == "running"
            master.send(protocol.FinishedAck(1, 1))

            Path(f"{flag}.2").touch()
            ends = await master.until(lambda: master.of(protocol.JobFinished, 2), "job 2's end")
            assert ends[0].report.exit_status == 6
            master.send(protocol.FinishedAck(2, 1))
            await master.until(lambda: not spool_task(cell_root, 2).exists() and not spool_task(cell_root, 1).exists(),
                               "both spool dirs to go")

            # after the acks, nothing more: another restart reports no job at all
            master.drop_link()
            await master.until(lambda: master.connections == 3 and master.writer, "a third registration")
            assert master.registers[2].jobs == []
            assert [r.exit_status for r in master.finished_reports(1)] == [4]
            assert [r.exit_status for r in master.finished_reports(2)] == [6]

    asyncio.run(scenario())


def test_sigterm_stops_the_daemon_but_not_the_job(cell_root: Path) -> None:
    async def scenario() -> None:
        async with fake_master(cell_root) as (master, start_daemon):
            daemon = start_daemon()
            await master.until(lambda: master.writer, "registration")
            flag = cell_root / "go"
            master.send(protocol.StartJob(launch_map(cell_root, 9, f"while [ ! -e {flag} ]; do sleep 0.05; done\n")))
            await master.until(lambda: (spool_task(cell_root, 9) / "job.pid").exists(), "the job to fork")
            daemon.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(daemon.wait, DEADLINE) == 0
            job_pid = int((spool_task(cell_root, 9) / "job.pid").read_text())
            os.kill(job_pid, 0)  # still alive
            flag.touch()
            start_daemon()
            await master.until(lambda: master.connections == 2 and master.writer, "re-registration")
            await master.until(lambda: master.finished_reports(9), "the job's end")
            assert master.finished_reports(9)[0].exit_status == 0

    asyncio.run(scenario())


def _wait_file(path: Path) -> None:
    import time

    deadline = time.monotonic() + DEADLINE
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.05)
