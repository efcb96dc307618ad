"""qstat -q and -l: the queue instances asked about, and the jobs shown with them.

Grid Engine's rule: the selected queue instances are those a ``-q`` pattern names and whose
fixed values satisfy every ``-l`` request (load values other than arch and num_proc count as
met, consumables are measured against their capacity, not what is free). A running job is
shown when its master queue is selected, a pending job when it could in principle run in one
of them (its own -q, -l, PE, project and checkpointing requests, judged the same way);
finished jobs have no queue and are shown as they are.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from qsys.errors import InvalidRequest
from qsys.master.snapshot import build_snapshot, pending_snapshot
from qsys.sched.matching import JobRequest, compile_request, queue_matches, static_reason
from qsys.sched.snapshot import PendingJob, QueueInstanceSnap, complex_index

if TYPE_CHECKING:
    from qsys.master.core import Master
    from qsys.master.jobs import Job
    from qsys.master.snapshot import StateDecorator
    from qsys.protocol import JobsStatus
    from qsys.records import JobRow


class QueueSelection:
    """The queue instances of one qstat -q/-l and the test a job row passes to be shown."""

    def __init__(self, state: Master, decorator: StateDecorator, patterns: list[str],
                 resources: dict[str, str]) -> None:
        self.snap = build_snapshot(state, decorator, state.clock.now())
        self.index = complex_index(self.snap.complexes)
        wanted = compile_request(PendingJob(0, hard_resources=dict(resources)), self.index)
        self.instances = [qi for qi in self.snap.queue_instances
                          if (not patterns or queue_matches(patterns, qi, self.snap.hostgroups))
                          and (not resources or self._offers(wanted, qi))]
        self.names = {qi.name for qi in self.instances}

    def _offers(self, wanted: JobRequest, qi: QueueInstanceSnap) -> bool:
        """Does ``qi`` satisfy the -l requests? (-l asks about resources only: the queue's own
        type and projects are taken as met.)"""
        probe = dataclasses.replace(wanted, interactive="BATCH" not in qi.qtype,
                                    project=qi.projects[0] if qi.projects else None)
        return self._reason(probe, qi) is None

    def _reason(self, req: JobRequest, qi: QueueInstanceSnap) -> str | None:
        return static_reason(req, qi, self.snap.hosts.get(qi.host), self.snap, strict=False)

    def shows(self, row: JobRow, job: Job | None) -> bool:
        if row.state == "z" or job is None:
            return True
        if row.queue:
            return (row.master_queue or row.queue) in self.names
        try:
            req = compile_request(pending_snapshot(job, len(job.tasks)), self.index)
        except InvalidRequest:
            return False  # a request no queue can ever meet
        return any(self._reason(req, qi) is None for qi in self.instances)


def selection(state: Master, decorator: StateDecorator, msg: JobsStatus) -> QueueSelection | None:
    """The selection of a qstat request, None without -q and -l. Like Grid Engine's qstat, an
    -l naming no complex, or -q patterns naming no queue instance, end it with exit status 1
    and no output."""
    if not msg.queues and not msg.resources:
        return None
    if any(state.config.resolve_complex(name) is None for name in msg.resources):
        raise InvalidRequest("")
    chosen = QueueSelection(state, decorator, msg.queues, msg.resources)
    if msg.queues and not any(queue_matches(msg.queues, qi, {}) for qi in chosen.snap.queue_instances):
        raise InvalidRequest("")
    return chosen
