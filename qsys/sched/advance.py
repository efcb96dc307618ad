"""Granting an advance reservation: which queue instances can give its slots for its window.

A request (``qrsub``: ``-l``, ``-q``, ``-masterq``, ``-pe``) is checked as a job of the same
requests would be (static checks of every queue instance), then slots are taken where the
whole window ``[start, end)`` leaves them free: running tasks hold theirs until their
run-time limits say they end (``qsys.sched.reservation``), other advance reservations hold
theirs for their windows. Nothing here does I/O.
"""

from __future__ import annotations

import fnmatch

from qsys.errors import InvalidRequest
from qsys.sched.matching import compile_request, static_reason
from qsys.sched.reservation import Timeline, place
from qsys.sched.snapshot import Assignment, PendingJob, Snapshot, complex_index

NO_SUITABLE_QUEUES = "no suitable queues"


def grant(snap: Snapshot, request: PendingJob, start: float, end: float) -> tuple[list[Assignment], str | None]:
    """The slots of an advance reservation for ``[start, end)`` (master queue instance first)
    and the PE it is granted in; raises InvalidRequest("no suitable queues") when they are
    not to be had."""
    try:
        req = compile_request(request, complex_index(snap.complexes))
    except InvalidRequest:
        raise InvalidRequest(NO_SUITABLE_QUEUES) from None
    qis = snap.queue_instances
    candidates = [i for i, qi in enumerate(qis)
                  if static_reason(req, qi, snap.hosts.get(qi.host), snap, strict=False) is None]
    timeline = Timeline(snap)
    for ar in snap.advance_reservations:
        position = {(qi.queue, qi.host): i for i, qi in enumerate(qis)}
        for a in ar.assignments:
            i = position.get((a.queue, a.host))
            if i is not None:
                timeline.block(i, ar.start, ar.end, a.slots)
    free = {i: max(0, timeline.instances[i].free_during(start, end)) for i in candidates}
    if request.pe is None:
        placed = place(candidates, qis, free, None, 1, 1)
        if placed is None:
            raise InvalidRequest(NO_SUITABLE_QUEUES)
        return [Assignment(qis[i].queue, qis[i].host, n) for i, n in placed], None
    name, low, high = request.pe
    for pe in sorted(snap.pes.values(), key=lambda p: p.name):
        if not fnmatch.fnmatchcase(pe.name, name):
            continue
        usable = [i for i in candidates if pe.name in qis[i].pe_list]
        placed = place(usable, qis, free, pe.allocation_rule, low, min(high, pe.slots))
        if placed is not None:
            return [Assignment(qis[i].queue, qis[i].host, n) for i, n in placed], pe.name
    raise InvalidRequest(NO_SUITABLE_QUEUES)
