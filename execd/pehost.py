"""The exec daemon's part of tight integration: extra group IDs and PE jobs on this host.

* Every task started here gets an extra group ID (``gid_range`` of this host's effective
  configuration), written into its ``job.json`` so the shepherd attaches it and a restarted
  daemon knows it is held.
* A PE job with slots here but its master task elsewhere is a *slave* record
  (``<spool>/pe_slaves/<job>.<task>/job.json``): it has its own group ID on this host, so this
  daemon accepts its ``qrsh -inherit`` tasks and can kill all it left (PeSlaveEnd).
* Killing a job (qdel, h_rt, the end of the master task) kills every process carrying its
  group ID on this host, not only the shepherd's process group.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from execd import gids, procs
from execd.slaveusage import SlaveSamplers
from execd.spool import JOB_FILE, write_atomic
from qsys import protocol
from qsys.launch import Launch

if TYPE_CHECKING:
    from execd.daemon import ExecDaemon

log = logging.getLogger("qsys.execd.pe")

SLAVES = "pe_slaves"


class PeHost:
    def __init__(self, daemon: ExecDaemon) -> None:
        self.daemon = daemon
        self.root = daemon.spool.root / SLAVES
        self.last_gid = 0
        self._gid_cache: dict[Path, int | None] = {}
        self.slaves: dict[tuple[int, int], Launch] = {}
        self.usage = SlaveSamplers(daemon)  # foreign carriers of the slave records' group IDs

    # ------------------------------------------------------------ group IDs

    @staticmethod
    def enabled() -> bool:
        """Group IDs can only be attached by a root daemon (setgroups needs it)."""
        return os.geteuid() == 0

    def _gid_of(self, path: Path) -> int | None:
        if path not in self._gid_cache:
            try:
                self._gid_cache[path] = json.loads((path / JOB_FILE).read_text()).get("extra_gid")
            except (OSError, ValueError):
                return None
        return self._gid_cache[path]

    def held(self) -> set[int]:
        """The IDs of every task and slave record this daemon still keeps."""
        held = {self._gid_of(t.tdir.path) for t in self.daemon.tasks.values()}
        held.update(launch.extra_gid for launch in self.slaves.values())
        return {g for g in held if g is not None}

    def assign_gid(self, launch: Launch, owner: Path | None = None) -> None:
        """Give ``launch`` a free ID (GidPoolExhausted when there is none), reserved on this
        machine for ``owner`` (default: the task's spool directory)."""
        if not self.enabled():
            return
        owner = owner or self.daemon.spool.task_dir(launch.job_id, launch.task_id).path
        gid = gids.allocate(self.daemon.config.get("gid_range", gids.DEFAULT_RANGE), self.held(), self.last_gid,
                            owner)
        self.last_gid = gid
        launch.extra_gid = gid
        self._gid_cache[owner] = gid  # what its job.json will say: held() need not read it

    def gid_of_task(self, job_id: int, task_id: int) -> int | None:
        tracked = self.daemon.tasks.get((job_id, task_id))
        if tracked is not None:
            return self._gid_of(tracked.tdir.path)
        slave = self.slaves.get((job_id, task_id))
        return slave.extra_gid if slave is not None else None

    def kill_group(self, job_id: int, task_id: int, sig: int) -> int:
        gid = self.gid_of_task(job_id, task_id)
        if gid is None:
            return 0
        return procs.kill_gid(gid, sig)

    def forget(self, path: Path) -> None:
        gid = self._gid_of(path)
        self._gid_cache.pop(path, None)
        if gid is not None:
            gids.release(gid, path)

    # ------------------------------------------------------------ slave records

    def load(self) -> None:
        """Re-read the slave records after a restart."""
        if not self.root.is_dir():
            return
        for entry in sorted(self.root.iterdir()):
            with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
                launch = Launch.from_wire(json.loads((entry / JOB_FILE).read_text()))
                self.slaves[(launch.job_id, launch.task_id)] = launch
                self.usage.track((launch.job_id, launch.task_id), launch.extra_gid)

    def slave_start(self, launch: Launch) -> None:
        key = (launch.job_id, launch.task_id)
        if key in self.slaves:
            return  # told again (the master re-sent it after a reconnect)
        path = self.root / launch.task_key
        try:
            self.assign_gid(launch, path)
        except gids.GidPoolExhausted as exc:
            log.error("job=%s slave record without a group ID: %s", launch.task_key, exc)
        path.mkdir(parents=True, exist_ok=True)
        write_atomic(path / JOB_FILE, json.dumps(launch.to_wire(), sort_keys=True, default=_bytes), 0o600)
        self.slaves[key] = launch
        self.usage.track(key, launch.extra_gid)
        log.info("job=%s slave host for PE %s (%d slots, gid %s)", launch.task_key, launch.pe, launch.slots,
                 launch.extra_gid)

    def slave_end(self, job_id: int, task_id: int, sig: int) -> None:
        self.usage.last_sample((job_id, task_id))
        killed = self.kill_group(job_id, task_id, sig)
        self.daemon.inherit.kill(job_id, task_id, sig)
        self.usage.finish((job_id, task_id))
        launch = self.slaves.pop((job_id, task_id), None)
        if launch is not None:
            shutil.rmtree(self.root / launch.task_key, ignore_errors=True)
            if launch.extra_gid is not None:
                gids.release(launch.extra_gid, self.root / launch.task_key)
        log.info("job=%d.%d slave end: %d processes signalled", job_id, task_id, killed)

    def granted(self, job_id: int, task_id: int) -> Launch | None:
        """The job's Launch on this host when it holds slots here (master or slave)."""
        tracked = self.daemon.tasks.get((job_id, task_id))
        if tracked is not None and tracked.report is None:
            with contextlib.suppress(OSError, ValueError, TypeError):
                return tracked.tdir.launch()
        return self.slaves.get((job_id, task_id))


def _bytes(value: Any) -> Any:
    if isinstance(value, bytes):
        return None  # the script is not needed on a slave host
    raise TypeError(f"cannot store {type(value).__name__}")


def on_slave_start(daemon: ExecDaemon, msg: protocol.PeSlaveStart) -> None:
    daemon.pe.slave_start(Launch.from_wire(msg.job))


def on_slave_end(daemon: ExecDaemon, msg: protocol.PeSlaveEnd) -> None:
    daemon.pe.slave_end(msg.job_id, msg.task_id, msg.signal)
