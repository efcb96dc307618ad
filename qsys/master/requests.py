"""Client requests on jobs: submit (one or many), qdel/qhold/qrls, -sync y waits, shutdown."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from qsys import protocol
from qsys.errors import InvalidRequest, NotFound, NotSchedulable, PermissionDenied
from qsys.master.submit import ImmediatePass, create_jobs, submitted
from qsys.master.validate import validate_spec

if TYPE_CHECKING:
    from qsys.master.actions import JobActions
    from qsys.master.core import HeldLink, Master
    from qsys.master.identity import Identity
    from qsys.master.jobs import Job
    from qsys.master.verify import SubmitVerifier
    from qsys.records import Submitted, TaskEnd


class JobRequests:
    def __init__(self, state: Master, actions: JobActions, immediate: ImmediatePass, link: HeldLink,
                 verifier: SubmitVerifier) -> None:
        self.state = state
        self.verifier = verifier
        self.actions = actions
        self.immediate = immediate
        self.link = link

    async def submit(self, who: Identity, msg: protocol.Submit) -> Submitted:
        state = self.state
        spec = msg.spec
        validate_spec(state, who, spec)
        warnings = await self.verifier.check(who, spec)  # -w e|w|v|p
        (job,) = await create_jobs(state, who, [spec])
        if not spec.now:
            _schedule_for(state, [job])
        else:
            dispatched = await self.immediate.run_now(job)
            if not dispatched:
                await state.commit(state.forget_job(job))
                raise NotSchedulable("\n".join([*warnings, 'Your "qsub" request could not be scheduled, try again later.']))
        return submitted(job, warnings)

    async def submit_many(self, who: Identity, msg: protocol.SubmitMany) -> protocol.SubmittedMany:
        state = self.state
        specs = msg.specs
        for spec in specs:
            if spec.now:
                raise InvalidRequest("-now y is not allowed in a bulk submission")
            validate_spec(state, who, spec)
        jobs = await create_jobs(state, who, specs)
        _schedule_for(state, jobs)
        return protocol.SubmittedMany([submitted(job) for job in jobs])

    async def job_action(self, who: Identity, msg: protocol.JobAction) -> protocol.Lines:
        with self.link.holding() as kills:  # told to the hosts once the deletion is durable
            lines, failed, changes = self.actions.act(who, msg)
        await self.state.commit(changes)
        self.link.deliver(kills)
        self.state.schedule_soon()
        return protocol.Lines(lines, 1 if failed else 0)

    async def wait_jobs(self, who: Identity, msg: protocol.WaitJobs) -> protocol.TaskEnds:
        state = self.state
        for job_id in msg.job_ids:
            job = state.jobs.get(job_id)
            if job is not None and job.owner != who.user and not who.privileged:
                raise PermissionDenied(f"{who.user} - you may not wait for job {job_id}")
        results = await asyncio.gather(*(state.wait_for(job_id) for job_id in msg.job_ids))
        out: list[TaskEnd] = []
        for job_id, ends in zip(msg.job_ids, results, strict=True):
            if not ends:
                raise NotFound(f"job {job_id} is not known")
            out.extend(ends)
        return protocol.TaskEnds(out)

    async def shutdown(self, who: Identity, msg: protocol.Shutdown) -> protocol.Ok:
        if not who.manager:
            raise PermissionDenied(f"denied: {who.user} must be manager to shut down the master")
        if msg.execds:
            for host in list(self.state.hosts):
                self.link.send(host, protocol.ExecdShutdown("master shutdown"))
        asyncio.get_running_loop().call_later(0.1, self.state.stopping.set)
        return protocol.Ok("shutting down")


def _schedule_for(state: Master, jobs: list[Job]) -> None:
    """A pass for new jobs, unless none of them may run yet (held with -h, waiting for
    -hold_jid predecessors): a pass over every pending job that can change nothing is what
    each ``qsub -h`` cost the master otherwise."""
    now = state.clock.now()
    if any(job.eligible(now) for job in jobs):
        state.schedule_soon()
