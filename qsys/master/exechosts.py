"""Removing an exec host as Grid Engine does (``qconf -de``).

A host with jobs is refused with Grid Engine's message, and so is a host that a host group
other than ``@allhosts`` names. Otherwise the host leaves ``@allhosts`` and the host lists of
the queues that name it, ``qhost`` stops listing it, and its exec daemon is refused until the
host is added again, so it does not come back by registering. Joining is
``ClusterConfig.joining`` (a new host enters ``@allhosts``).

Grid Engine 8.1.9 is stricter: it refuses ``-de`` for any host that has a queue instance, with
or without jobs (the same message, naming the queue, also when the queue names it through
``@allhosts``), so the admin edits the host lists first. qsys does that edit itself when no
job runs there, so that ``qconf -de`` of an idle host is one step.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from qsys.errors import InvalidRequest
from qsys.master.config import ALLHOSTS, REMOVED_HOST, Edit

if TYPE_CHECKING:
    from qsys.master.core import Master


def running_in(master: Master, host: str) -> str | None:
    """The cluster queue of a task that runs on ``host`` (None: nothing runs there)."""
    for job in master.jobs.values():
        for task in job.tasks.values():
            for a in task.assignments:
                if a.host == host:
                    return a.queue
    return None


def leaving(master: Master, host: str) -> list[Edit]:
    """The edits of ``qconf -de host``, or InvalidRequest with Grid Engine's message."""
    config = master.config
    queue = running_in(master, host)
    if queue is not None:
        raise InvalidRequest(f'Host object "{host}" is still referenced in cluster queue "{queue}".')
    for name, other in sorted(config.hostgroups.items()):
        if name != ALLHOSTS and host in other.hostlist:
            raise InvalidRequest(f'Host object "{host}" is still referenced in host group "{name}".')
    edits: list[Edit] = [("exechost", host, None), (REMOVED_HOST, host, {})]
    group = config.hostgroups.get(ALLHOSTS)
    if group is not None and host in group.hostlist:
        edits.append(("hostgroup", ALLHOSTS, replace(group, hostlist=[h for h in group.hostlist if h != host])))
    for name, queue_obj in sorted(config.queues.items()):
        if host in queue_obj.hostlist:
            edits.append(("queue", name, replace(queue_obj, hostlist=[h for h in queue_obj.hostlist if h != host])))
    return edits


def forget_link(master: Master, host: str) -> None:
    """The removed host's exec daemon is dropped (it is refused when it registers again)."""
    entry = master.hosts.pop(host, None)
    if entry is not None and entry.writer is not None:
        entry.writer.close()
