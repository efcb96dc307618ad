"""Checkpointing jobs (``qsub -ckpt``) as the master sees them: what their exec host is told
of the interface (the shepherd runs its commands: ``execd.checkpoint``), and whether a
suspension migrates them instead of stopping them (``when`` has x, checkpoint(5)).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qsys.jobspec import JobSpec
    from qsys.master.core import Master
    from qsys.master.jobs import Job


def checkpoint_of(state: Master, job: Job, min_cpu_interval: float) -> dict[str, Any] | None:
    """The checkpointing interface a -ckpt job runs with, and when it is checkpointed: every
    -c interval (min_cpu_interval of the queue if that is longer), or every min_cpu_interval
    with "m" (Grid Engine's rule); 0 for never."""
    spec = job.spec
    ckpt = state.config.ckpts.get(spec.checkpoint or "")
    if ckpt is None:
        return None
    when = spec.checkpoint_when or ckpt.when
    interval = max(float(spec.checkpoint_interval), min_cpu_interval) if spec.checkpoint_interval else (
        min_cpu_interval if "m" in when else 0.0)
    return {"name": ckpt.ckpt_name, "interface": ckpt.interface, "ckpt_command": ckpt.ckpt_command or "",
            "migr_command": ckpt.migr_command or "", "restart_command": ckpt.restart_command or "",
            "clean_command": ckpt.clean_command or "", "ckpt_dir": ckpt.ckpt_dir, "signal": ckpt.signal or "",
            "when": when, "interval": interval}



def migrates_on_suspend(spec: JobSpec) -> bool:
    """A suspension of this job migrates it (checkpoint, end, run again) instead of stopping it."""
    return bool(spec.checkpoint) and "x" in (spec.checkpoint_when or "")
