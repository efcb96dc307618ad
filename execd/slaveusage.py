"""Usage of a PE job's foreign processes on its slave hosts.

On the master task's host the shepherd samples the carriers of the job's group ID that are
not below one of the host's shepherds (``execd.usage.GroupSampler``). A slave host has no
shepherd for the job itself, only one per ``qrsh -inherit`` task, whose ``wait4`` counts what
runs below it. So the exec daemon samples each slave record's group ID itself, every
``SAMPLE_SECONDS``; when the job ends there (PeSlaveEnd) it takes a last sample before the
kill and, if foreign processes used anything, tells the master in a PeTaskFinished of
``pe_taskid foreign.<host>``, which becomes an accounting record of its own (or is summed into
the job's one record with ``accounting_summary TRUE`` while the job still runs).
The samples live in the daemon's memory: a restarted daemon starts counting afresh.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING

from execd import reaper
from execd.usage import SAMPLE_SECONDS, GroupSampler, empty_report
from qsys import protocol

if TYPE_CHECKING:
    from execd.daemon import ExecDaemon

log = logging.getLogger("qsys.execd.pe")


class SlaveSamplers:
    """One GroupSampler per slave record of this host, ticking while there are any."""

    def __init__(self, daemon: ExecDaemon) -> None:
        self.daemon = daemon
        self.samplers: dict[tuple[int, int], tuple[GroupSampler, float]] = {}
        self._timer: object | None = None

    def track(self, key: tuple[int, int], gid: int | None) -> None:
        if gid is None or key in self.samplers:
            return
        root = self.daemon.spool.root
        self.samplers[key] = (GroupSampler(gid, lambda: reaper.shepherd_pids(root)), time.time())
        self._schedule()

    def _schedule(self) -> None:
        loop = self.daemon.loop
        if self._timer is None and loop is not None and self.samplers:
            self._timer = loop.call_later(SAMPLE_SECONDS, self._tick)

    def _tick(self) -> None:
        self._timer = None
        now = time.time()
        for sampler, _ in self.samplers.values():
            with contextlib.suppress(OSError):
                sampler.sample(now)
        self._schedule()

    def last_sample(self, key: tuple[int, int]) -> None:
        """Sample once more (before the kill at the job's end)."""
        entry = self.samplers.get(key)
        if entry is not None:
            with contextlib.suppress(OSError):
                entry[0].sample()

    def finish(self, key: tuple[int, int]) -> None:
        """The job ended here: report what its foreign processes used, if anything."""
        entry = self.samplers.pop(key, None)
        if entry is None:
            return
        sampler, started = entry
        with contextlib.suppress(OSError):
            sampler.sample()  # the killed ones, gone now, count with their last sample
        used = sampler.foreign()
        if used["cpu"] <= 0 and used["io"] <= 0:
            return
        report = empty_report(started, time.time())
        report.update(cpu=round(used["cpu"], 6), ru_utime=round(used["cpu"], 6),
                      io=round(used["io"] / 1024.0**3, 9), iow=round(used["iow"], 6))
        pe_task_id = f"foreign.{self.daemon.host}"
        log.info("job=%d.%d processes outside its tasks used cpu=%.3f here", key[0], key[1], used["cpu"])
        self.daemon.send(protocol.PeTaskFinished(key[0], key[1], pe_task_id, self.daemon.host,
                                                 protocol.exit_report(report)))
