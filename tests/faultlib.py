"""What the fault tests share: a stream of uniquely named jobs submitted from a thread, and the
checks that no acknowledged job is lost, none runs twice and none is accounted twice.

Every job appends ``$JOB_ID $JOB_NAME`` to one log when it runs. A submission ends in one of
three ways: acknowledged (the master answered with a job id), refused (the master answered
with an error: it must never run), or unknown (the connection broke before an answer: it
may have run, at most once).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qsys.errors import ConnectionFailed, QsysError
from qsys.jobspec import JobSpec
from tests.clusterlib import Cluster


def job_spec(log: Path, name: str, seconds: float = 0.0) -> JobSpec:
    pause = f"sleep {seconds}; " if seconds else ""
    return JobSpec(command="/bin/sh", args=["-c", f'{pause}echo "$JOB_ID $JOB_NAME" >> {log}'], binary=True,
                   name=name, stdout_paths=["/dev/null"], join=True, submit_env={"WORKDIR": "/tmp"},
                   submit_cwd="/tmp")


@dataclass
class Stream:
    """Submits jobs ``s1``, ``s2``, ... until :meth:`stop` or ``total`` acknowledged ones."""

    cluster: Cluster
    log: Path
    total: int | None = None
    seconds: float = 0.0  # how long each job runs
    acked: dict[str, int] = field(default_factory=dict)  # name -> job id
    refused: dict[str, str] = field(default_factory=dict)  # name -> the master's message
    unknown: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Stream:
        self._thread = threading.Thread(target=self._run, name="job stream", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 600) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            assert not self._thread.is_alive(), "the job stream did not stop"

    def join(self, timeout: float) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the job stream did not finish in {timeout}s"

    def _run(self) -> None:
        seq = 0
        client: Any = None
        while not self._stop.is_set() and (self.total is None or len(self.acked) < self.total):
            seq += 1
            name = f"s{seq}"
            try:
                if client is None:
                    client = self.cluster.client()
                self.acked[name] = client.submit(job_spec(self.log, name, self.seconds))["job_id"]
            except (ConnectionFailed, OSError) as exc:
                self.unknown.append(name)
                if client is not None:
                    client.close()
                client = None
                if not isinstance(exc, ConnectionFailed) or "contact" in exc.message:
                    self._stop.wait(0.05)  # the master is down: try again shortly, or stop when told
            except QsysError as exc:
                self.refused[name] = exc.message
        if client is not None:
            client.close()


def ran(log: Path) -> tuple[Counter[int], Counter[str]]:
    """How often each job id and each job name ran."""
    ids: Counter[int] = Counter()
    names: Counter[str] = Counter()
    if log.exists():
        for line in log.read_text().splitlines():
            job_id, _, name = line.partition(" ")
            ids[int(job_id)] += 1
            names[name] += 1
    return ids, names


def _records(cluster: Cluster) -> list[list[str]]:
    path = cluster.root / "default" / "common" / "accounting"
    return [line.split(":") for line in path.read_text().splitlines() if line and not line.startswith("#")]


def accounted(cluster: Cluster) -> Counter[int]:
    """Accounting records per job id."""
    return Counter(int(fields[5]) for fields in _records(cluster))


def check_exactly_once(cluster: Cluster, stream: Stream, start_failures: bool = False) -> None:
    """Acknowledged: ran and accounted exactly once; refused: never ran; none ran twice.
    ``start_failures``: a job may instead have failed to start (the disk was full when its
    shepherd began): it is accounted once with its failure and did not run."""
    ids, names = ran(stream.log)
    failed = {r[4] for r in _records(cluster) if r[11] != "0"} if start_failures else set()
    lost = [n for n in stream.acked if names[n] == 0 and n not in failed]
    assert not lost, (f"acknowledged jobs that never ran: {lost[:10]} (of {len(lost)}); "
                      f"records: {[r for r in _records(cluster) if r[4] in lost[:3]]}")
    twice = [j for j, n in ids.items() if n > 1] + [n for n, c in names.items() if c > 1]
    assert not twice, f"jobs that ran twice: {twice[:10]}"
    refused_ran = [n for n in stream.refused if names[n]]
    assert not refused_ran, f"refused submissions that ran: {[(n, stream.refused[n]) for n in refused_ran[:5]]}"
    counts = accounted(cluster)
    wrong = {j: counts[j] for j in stream.acked.values() if counts[j] != 1}
    assert not wrong, f"accounting records per acknowledged job (want 1): {list(wrong.items())[:10]}"
    assert len(set(stream.acked.values())) == len(stream.acked), "job numbers are never given twice"
