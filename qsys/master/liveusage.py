"""Usage of running tasks as their exec hosts report it (with every load report), for
``qstat -j`` (``usage`` lines), ``qstat -ext`` (cpu, mem, io) and their XML.

Each host reports what the task's processes there use now (``execd.online``); a parallel
job's task sums its hosts, plus what its finished pe tasks used (``Task.usage``, kept with
``accounting_summary TRUE``). Nothing of it is stored: a restarted master shows a task's usage
again from its hosts' next reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qsys.master.core import Master
    from qsys.master.jobs import Task

SUMMED = ("cpu", "mem", "io", "iow", "vmem")


def record(state: Master, host: str, usage: dict[str, dict[str, float]]) -> None:
    """Keep what ``host`` reported of the tasks that run there."""
    for key, values in usage.items():
        job_text, _, task_text = key.partition(".")
        if not (job_text.isdigit() and task_text.isdigit()):
            continue
        job = state.jobs.get(int(job_text))
        task = job.tasks.get(int(task_text)) if job is not None else None
        if task is not None and any(a.host == host for a in task.assignments):
            task.live[host] = {k: float(v) for k, v in values.items()}


def shown(task: Task) -> dict[str, float]:
    """The task's usage now: its hosts' reports summed, with its finished pe tasks' usage."""
    if not task.live and not task.usage:
        return {}
    total = {name: float(task.usage.get(name, 0.0)) for name in SUMMED}
    total["maxvmem"] = float(task.usage.get("maxvmem", 0.0))
    peak = 0.0
    for values in task.live.values():
        for name in SUMMED:
            total[name] += values.get(name, 0.0)
        peak += values.get("maxvmem", 0.0)
    total["maxvmem"] = max(total["maxvmem"], peak)
    return total
