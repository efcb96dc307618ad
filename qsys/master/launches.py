"""The Launch of a task: everything its exec daemon needs to start it, resolved from the
job, the granted queue instance and the host's configuration (limits in seconds and bytes,
so the exec side needs no grammar)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from qsys.launch import Launch, PeHostEntry
from qsys.master.checkpointing import checkpoint_of
from qsys.master.config import LIMITS, split_list

if TYPE_CHECKING:
    from qsys.master.core import Master
    from qsys.master.jobs import Job, Task


def launch_for(state: Master, job: Job, task: Task) -> Launch:
    from qsys.sched.values import parse_memory, parse_time

    config = state.config
    first = task.master
    spec = job.spec
    host_conf = config.host_config(first.host)

    def queue_attr(name: str) -> str:
        return config.queue_attr(first.queue, name, first.host)

    limits: dict[str, float | None] = {}
    for name in LIMITS:
        queue_text = queue_attr(name)
        job_text = spec.hard_resources.get(name)
        parse = parse_time if name.endswith(("_rt", "_cpu")) else parse_memory
        values = [parse(t) for t in (queue_text, job_text) if t and t.upper() != "INFINITY"]
        limits[name] = min(values) if values else None
    return Launch(
        job_id=job.job_id,
        task_id=task.task_id,
        is_array=job.is_array,
        spec=job.spec_map(),  # made once per spec, not per task
        owner=job.owner,
        uid=job.uid,
        group=job.group,
        gid=job.gid,
        queue=first.queue,
        host=first.host,
        slots=first.slots,
        total_slots=task.slots,
        hosts=[PeHostEntry(a.host, a.slots, f"{a.queue}@{a.host}") for a in task.assignments] if task.pe else [],
        pe=task.pe,
        restarted=task.restarted,
        submit_time=job.submit_time,
        h_rt=limits["h_rt"],
        s_rt=limits["s_rt"],
        h_cpu=limits["h_cpu"],
        s_cpu=limits["s_cpu"],
        h_vmem=int(limits["h_vmem"]) if limits["h_vmem"] else None,
        s_vmem=int(limits["s_vmem"]) if limits["s_vmem"] else None,
        tmpdir_base=queue_attr("tmpdir"),
        shell=queue_attr("shell"),
        shell_start_mode=_none(queue_attr("shell_start_mode")) or host_conf.get("shell_start_mode", "posix_compliant"),
        login_shells=split_list(host_conf.get("login_shells", "")),
        prolog=_none(queue_attr("prolog")) or _none(host_conf.get("prolog", "")),
        epilog=_none(queue_attr("epilog")) or _none(host_conf.get("epilog", "")),
        cell=state.cell.name,
        qsys_root=str(state.cell.root),
        binary_path=state.boot.get("binary_path") or os.path.dirname(sys.executable),
        devices=devices_on(task, first.host),
        checkpoint=checkpoint_of(state, job, parse_time(queue_attr("min_cpu_interval") or "00:05:00")),
    )


def devices_on(task: Task, host: str) -> dict[str, list[str]]:
    """The resource map ids the task was granted on ``host`` (all its queue instances there)."""
    out: dict[str, list[str]] = {}
    for a in task.assignments:
        if a.host == host:
            for name, ids in a.devices.items():
                out.setdefault(name, []).extend(ids)
    return out


def _none(text: str) -> str:
    return "" if not text or text.upper() == "NONE" else text
