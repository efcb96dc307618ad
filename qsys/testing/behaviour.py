"""How a simulated job behaves, and the exit report its simulated shepherd writes.

A *policy* maps the task's :class:`~qsys.launch.Launch` to a :class:`Behaviour`. The default,
:func:`from_context`, reads the job's own context variables (``qsub -ac sim_run=30,sim_exit=3``),
so a test steers each job where it submits it; :func:`by_name` maps job names (``-N``) instead.
The report follows the real shepherd's rules (``execd/shepherd.py``, ``execd/usage.py``): a
signal gives exit status 128 + its number, exit status 99 asks for a rerun and 100 for the
error state, a failure before the job (codes 8, 11, 26, 27, 28) sets the error state, h_rt
kills the job with failure 37.
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from qsys import protocol
from qsys.launch import Launch

GIB = 1024**3
H_RT = 37
ERROR_STATE_FAILURES = {8, 11, 26, 27, 28}  # failed before the job: the job goes to Eqw


@dataclass(frozen=True, slots=True)
class Behaviour:
    run: float | None = 0.0  # seconds of (simulated) clock time; None: until killed
    exit_status: int = 0
    fail_start: str = ""  # the exec daemon cannot start it (JobFailedStart: queue instance E, job again)
    failed: int = 0  # the shepherd fails with this code (accounting "failed") instead of running it
    kill_delay: float = 0.0  # seconds between a kill and the end (a job slow to die)
    cpu: float = 1.0  # cpu seconds per second of run time, per slot
    maxrss_kb: int = 20_000
    pe_task_run: float | None = None  # on each slave host of a PE job: one qrsh -inherit task this long


Policy = Callable[[Launch], Behaviour]

_CONTEXT = {  # context variable -> (field, type)
    "sim_run": ("run", float),
    "sim_exit": ("exit_status", int),
    "sim_fail_start": ("fail_start", str),
    "sim_failed": ("failed", int),
    "sim_kill_delay": ("kill_delay", float),
    "sim_cpu": ("cpu", float),
    "sim_pe_task_run": ("pe_task_run", float),
}


def from_context(default: Behaviour = Behaviour()) -> Policy:
    """The behaviour the job's context variables ask for (``sim_run=forever``: until killed),
    ``default`` for the rest."""

    def policy(launch: Launch) -> Behaviour:
        context = launch.spec.get("context") or {}
        changes: dict[str, object] = {}
        for name, (attr, kind) in _CONTEXT.items():
            text = context.get(name)
            if text is not None:
                changes[attr] = None if attr == "run" and text == "forever" else kind(text)
        return dataclasses.replace(default, **changes) if changes else default  # type: ignore[arg-type]

    return policy


def by_name(behaviours: Mapping[str, Behaviour], default: Policy | Behaviour = Behaviour()) -> Policy:
    """The behaviour of the job's name; ``default`` (a behaviour or a policy) for other names."""
    fallback = default if callable(default) else _constant(default)

    def policy(launch: Launch) -> Behaviour:
        found = behaviours.get(str(launch.spec.get("name") or ""))
        return found if found is not None else fallback(launch)

    return policy


def _constant(behaviour: Behaviour) -> Policy:
    return lambda _launch: behaviour


def exit_report(behaviour: Behaviour, launch: Launch, start: float, end: float, *, stopped: float = 0.0,
                sig: int = 0, killed: bool = False, h_rt: bool = False) -> protocol.ExitReport:
    """The report of a task that ran from ``start`` to ``end`` (``stopped`` seconds of it
    suspended), ended by ``sig`` when not 0 (by the shepherd's h_rt timer when ``h_rt``)."""
    failed, error = behaviour.failed, ""
    if failed:
        error = f"simulated failure {failed} of job {launch.task_key}"
        return protocol.ExitReport(failed=failed, error=error, error_state=failed in ERROR_STATE_FAILURES,
                                   start_time=0.0, end_time=end)
    if h_rt:
        sig, failed = int(signal.SIGKILL), H_RT
        error = f"job {launch.task_key} exceeded hard wallclock time h_rt"
    status = 128 + sig if sig else behaviour.exit_status
    wall = max(0.0, end - start)
    cpu = round(max(0.0, wall - stopped) * behaviour.cpu * max(1, launch.slots), 6)
    vmem = behaviour.maxrss_kb * 1024 * 3 // 2
    return protocol.ExitReport(
        exit_status=status, signal=sig, failed=failed, error=error, killed=killed,
        start_time=start, end_time=end, ru_wallclock=wall,
        rerun=not sig and status == 99, error_state=not sig and status == 100,
        ru_utime=round(cpu * 0.9, 6), ru_stime=round(cpu * 0.1, 6), ru_maxrss=behaviour.maxrss_kb,
        ru_minflt=1000 + int(wall), ru_nvcsw=10 + int(wall), ru_nivcsw=int(cpu),
        cpu=cpu, mem=round(vmem / GIB * cpu, 6), io=round(wall * 1e-6, 6), maxvmem=vmem)
