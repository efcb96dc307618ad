"""The Launch of a task: everything its exec daemon needs to start it, resolved from the
job, the granted queue instance and the host's configuration (limits in seconds and bytes,
so the exec side needs no grammar)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from qsys.launch import Launch, PeHostEntry
from qsys.master.checkpointing import checkpoint_of
from qsys.master.configcache import launch_conf, limit_value

if TYPE_CHECKING:
    from qsys.master.core import Master
    from qsys.master.jobs import Job, Task


PYTHON_DIR = os.path.dirname(sys.executable)  # the commands' directory, unless the bootstrap names one


def launch_for(state: Master, job: Job, task: Task) -> Launch:
    config = state.config
    first = task.master
    spec = job.spec
    conf = launch_conf(config, first.queue, first.host)
    limits: dict[str, float | None] = {}
    for name, queue_limit in conf.limits.items():
        job_limit = limit_value(name, spec.hard_resources.get(name))
        values = [v for v in (queue_limit, job_limit) if v is not None]
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
        tmpdir_base=conf.tmpdir,
        shell=conf.shell,
        shell_start_mode=conf.shell_start_mode,
        login_shells=list(conf.login_shells),
        prolog=conf.prolog,
        epilog=conf.epilog,
        cell=state.cell.name,
        qsys_root=str(state.cell.root),
        binary_path=state.boot.get("binary_path") or PYTHON_DIR,
        devices=devices_on(task, first.host),
        checkpoint=checkpoint_of(state, job, conf.min_cpu_interval) if spec.checkpoint else None,
    )


def devices_on(task: Task, host: str) -> dict[str, list[str]]:
    """The resource map ids the task was granted on ``host`` (all its queue instances there)."""
    out: dict[str, list[str]] = {}
    for a in task.assignments:
        if a.host == host:
            for name, ids in a.devices.items():
                out.setdefault(name, []).extend(ids)
    return out
