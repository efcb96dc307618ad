"""A checkpointing job's interface, run by its shepherd (``qsub -ckpt``, checkpoint(5)).

What a checkpoint is stays the interface's business; the shepherd runs its commands (as the
job owner, with the job's environment) at the moments Grid Engine does:

* every ``interval`` seconds (``-c`` interval, or ``min_cpu_interval`` with ``when`` m): a
  checkpoint -- ``ckpt_command``, and the interface's ``signal`` to the job;
* when the job is to migrate (a suspension while ``when`` has x; the master asks through
  the exec daemon): ``migr_command`` (a checkpoint if there is none); then the job is killed
  and ends as "migrating" (failed 24), to run again with ``RESTARTED=1``;
* when the job has ended (not migrating): ``clean_command``.

A command's words ``$host $job_owner $job_id $job_name $ja_task_id $queue $job_pid
$ckpt_dir $ckpt_signal $sge_root`` are replaced first. A failing command is written to the
shepherd's trace; it does not end the job.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
from collections.abc import Callable

from qsys.launch import Launch

MIGRATING = 24  # Grid Engine's failed code "migrating (checkpointing jobs)"
_WORD = re.compile(r"\$(host|job_owner|job_id|job_name|ja_task_id|queue|job_pid|ckpt_dir|ckpt_signal|sge_root)\b")


def expand(template: str, launch: Launch, job_name: str, job_pid: int) -> str:
    """``template`` with the interface's ``$`` words replaced (other ``$`` text is the shell's)."""
    ckpt = launch.checkpoint or {}
    values = {
        "host": launch.host, "job_owner": launch.owner, "job_id": str(launch.job_id), "job_name": job_name,
        "ja_task_id": str(launch.task_id if launch.is_array else 0), "queue": launch.queue,
        "job_pid": str(job_pid), "ckpt_dir": str(ckpt.get("ckpt_dir", "")),
        "ckpt_signal": str(ckpt.get("signal", "")), "sge_root": launch.qsys_root,
    }
    return _WORD.sub(lambda m: values[m.group(1)], template)


def signal_number(name: str) -> int | None:
    """A signal as the interface names it (``USR2``, ``SIGUSR2``, ``12``); None for none."""
    if not name or name.lower() == "none":
        return None
    if name.isdigit():
        return int(name)
    found = getattr(signal, "SIG" + name.upper().removeprefix("SIG"), None)
    return int(found) if found is not None else None


class Checkpointing:
    """The interface of one job; ``run`` runs a command line as the job owner and waits."""

    def __init__(self, launch: Launch, job_name: str, run: Callable[[str], None], now: float) -> None:
        self.launch = launch
        self.ckpt = dict(launch.checkpoint or {})
        self.job_name = job_name
        self.run = run
        self.interval = float(self.ckpt.get("interval") or 0)
        self.next = now + self.interval if self.interval > 0 else math.inf
        self.migrated = False

    def _command(self, key: str, job_pid: int) -> bool:
        template = str(self.ckpt.get(key) or "")
        if not template or template.lower() == "none":
            return False
        self.run(expand(template, self.launch, self.job_name, job_pid))
        return True

    def checkpoint(self, job_pid: int) -> None:
        """Take a checkpoint: the interface's command and signal."""
        self._command("ckpt_command", job_pid)
        sig = signal_number(str(self.ckpt.get("signal") or ""))
        if sig is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(job_pid, sig)

    def tick(self, now: float, job_pid: int) -> None:
        """A periodic checkpoint when one is due."""
        if now >= self.next:
            self.next = now + self.interval
            self.checkpoint(job_pid)

    def migrate(self, job_pid: int) -> None:
        """Checkpoint for the move (migr_command, else a checkpoint), then kill the job."""
        if not self._command("migr_command", job_pid):
            self.checkpoint(job_pid)
        self.migrated = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(job_pid, signal.SIGKILL)

    def clean(self, job_pid: int) -> None:
        if not self.migrated:
            self._command("clean_command", job_pid)
