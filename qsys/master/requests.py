"""Handlers of client requests, one per message type (registered in ``server._HANDLERS``)."""

from __future__ import annotations

import asyncio
import fnmatch
import grp
import pwd
import time
from typing import Any

from qsys import protocol
from qsys.errors import InvalidRequest, NotFound, NotSchedulable, PermissionDenied
from qsys.jobspec import JobSpec
from qsys.master import status
from qsys.master.core import Master
from qsys.master.jobs import Job
from qsys.master.server import Identity, handles
from qsys.master.validate import validate_spec


def _primary_group(user: str, uid: int) -> tuple[str, int]:
    try:
        gid = pwd.getpwnam(user).pw_gid
    except KeyError:
        return str(uid), uid
    try:
        return grp.getgrgid(gid).gr_name, gid
    except KeyError:
        return str(gid), gid


def _resolve_predecessors(master: Master, who: Identity, patterns: list[str]) -> set[int]:
    """Unfinished jobs named by -hold_jid (ids, or names with wildcards of the caller's jobs)."""
    found: set[int] = set()
    for pattern in patterns:
        if pattern.isdigit():
            if int(pattern) in master.jobs:
                found.add(int(pattern))
            continue
        for job in master.jobs.values():
            if job.owner == who.user and fnmatch.fnmatchcase(job.name, pattern):
                found.add(job.job_id)
    return found


def _new_jobs(master: Master, who: Identity, specs: list[JobSpec]) -> tuple[list[Job], list[Any]]:
    now = time.time()
    group, gid = _primary_group(who.user, who.uid)
    first, counter = master.allocate_job_ids(len(specs))
    jobs: list[Job] = []
    changes: list[Any] = []
    for offset, spec in enumerate(specs):
        job = Job.new(first + offset, spec, who.user, who.uid, group, gid, now, who.host)
        job.predecessors = _resolve_predecessors(master, who, spec.hold_jids)
        master.jobs[job.job_id] = job
        jobs.append(job)
        changes.append(master.job_change(job))
    changes.append(counter)
    return jobs, changes


def _submitted(job: Job) -> dict[str, Any]:
    tasks = job.spec.tasks
    return {"job_id": job.job_id, "name": job.name,
            "tasks": None if tasks is None else [tasks.first, tasks.last, tasks.step]}


@handles(protocol.Submit)
async def submit(master: Master, who: Identity, msg: protocol.Submit) -> dict[str, Any]:
    spec = JobSpec.from_wire(msg.spec)
    validate_spec(master, who, spec)
    (job,), changes = _new_jobs(master, who, [spec])
    if not spec.now:
        # the pass runs while this commit is queued, so its orders share the transaction;
        # they are still durable (and after the job) before any exec daemon hears of them
        master.schedule_soon()
    await master.commit(changes)
    if spec.now:
        dispatched = await master.dispatcher.run_now(job)
        if not dispatched:
            await master.commit(master.forget_job(job))
            raise NotSchedulable('Your "qsub" request could not be scheduled, try again later.')
    return _submitted(job)


@handles(protocol.SubmitMany)
async def submit_many(master: Master, who: Identity, msg: protocol.SubmitMany) -> list[dict[str, Any]]:
    specs = [JobSpec.from_wire(s) for s in msg.specs]
    for spec in specs:
        if spec.now:
            raise InvalidRequest("-now y is not allowed in a bulk submission")
        validate_spec(master, who, spec)
    jobs, changes = _new_jobs(master, who, specs)
    master.schedule_soon()  # see submit()
    await master.commit(changes)
    return [_submitted(job) for job in jobs]


@handles(protocol.Status)
async def get_status(master: Master, who: Identity, msg: protocol.Status) -> Any:
    if msg.job_ids is not None:
        return status.job_details(master, msg.job_ids)
    if msg.what == "hosts":
        return status.host_rows(master, msg.options)
    if msg.what == "cqueues":  # qstat -g c
        from qsys.master.urgency import cluster_queue_summary

        return cluster_queue_summary(master)
    rows = status.job_rows(master, msg.users, msg.options)
    if msg.what == "queues":
        return {"queues": status.queue_rows(master, msg.options), "jobs": rows}
    return rows


@handles(protocol.JobAction)
async def job_action(master: Master, who: Identity, msg: protocol.JobAction) -> dict[str, Any]:
    from qsys.master.actions import act

    lines, failed, changes = act(master, who, msg)
    await master.commit(changes)
    master.schedule_soon()
    return {"lines": lines, "exit": 1 if failed else 0}


@handles(protocol.WaitJobs)
async def wait_jobs(master: Master, who: Identity, msg: protocol.WaitJobs) -> list[dict[str, Any]]:
    for job_id in msg.job_ids:
        job = master.jobs.get(job_id)
        if job is not None and job.owner != who.user and not who.privileged:
            raise PermissionDenied(f"{who.user} - you may not wait for job {job_id}")
    results = await asyncio.gather(*(master.wait_for(job_id) for job_id in msg.job_ids))
    out: list[dict[str, Any]] = []
    for job_id, reports in zip(msg.job_ids, results, strict=True):
        if not reports:
            raise NotFound(f"job {job_id} is not known")
        out.extend({"job_id": job_id, **r} for r in reports)
    return out


@handles(protocol.Shutdown)
async def shutdown(master: Master, who: Identity, msg: protocol.Shutdown) -> str:
    if not who.manager:
        raise PermissionDenied(f"denied: {who.user} must be manager to shut down the master")
    if msg.execds:
        for host in list(master.execds.hosts):
            master.execds.send(host, protocol.ExecdShutdown("master shutdown"))
    asyncio.get_running_loop().call_later(0.1, master.stopping.set)
    return "shutting down"
