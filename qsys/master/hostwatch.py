"""Exec hosts that stopped reporting: Grid Engine's ``max_unheard`` and ``reschedule_unknown``.

A host whose link is lost, or whose load report is older than ``max_unheard``, is *unknown*:
its queue instances show ``u``, ``qhost`` shows ``-`` for its load and nothing is dispatched
there. A link to a host not heard for ``max_unheard`` is closed, so a host that wakes up
(SIGCONT, its network back) registers anew and is reconciled: the runs that were moved
away meanwhile are killed there (never two copies), the others are taken back.

After ``reschedule_unknown`` (0: never) of being unknown, its rerunnable batch jobs are
rescheduled (``Rq``, an accounting record with ``failed 25``) and run elsewhere; the others
wait for the host, ``qdel -f`` or ``qmod -f -rj``. A master that starts counts every host
that has not registered yet as unknown from its start, as Grid Engine's qmaster does.
Times come from the master's clock, so a simulated clock drives all of it. When the master's
own time jumps between two looks (a clock stepped forward, a master that was stopped or
starved, a simulated clock moved by a day), no host could have been heard in the gap: each
gets ``max_unheard`` again from the jump, and only one that stays silent after it is unknown.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from qsys.errors import InvalidRequest
from qsys.grammar.values import parse_time
from qsys.master.reschedule import lost_run, may_reschedule
from qsys.store import StoreError

if TYPE_CHECKING:
    from qsys.master.core import ExecHost, Master, TaskEndSink

log = logging.getLogger("qsys.master.hosts")

TICK_SECONDS = 1.0
JUMP_SECONDS = 10 * TICK_SECONDS  # a gap this long between two looks: the master's time jumped


class HostWatch:
    """Declares unheard hosts unknown and reschedules their jobs after reschedule_unknown."""

    def __init__(self, state: Master, ends: TaskEndSink) -> None:
        self.state = state
        self.ends = ends
        self.started = state.clock.now()
        self._swept: dict[str, float] = {}  # host -> the unknown_since its jobs were rescheduled for
        self._limits: dict[str, tuple[float, float]] = {}
        self._generation = -1
        self._task: asyncio.Task[None] | None = None
        self._never = asyncio.Event()  # the ticker waits only for its clock
        self._last_look: float | None = None
        self._heard_from = 0.0  # hosts count as heard at this time at least (the last jump)

    def start(self) -> None:
        self.started = self.state.clock.now()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except StoreError as exc:
                log.warning("rescheduling from unknown hosts waits for the store: %s", exc)
            except Exception:
                log.exception("host watch failed")
            await self.state.clock.wait(self._never, TICK_SECONDS)  # the master's clock: a fake one drives it

    # ------------------------------------------------------------ the configuration

    def limits(self, host: str) -> tuple[float, float]:
        """(max_unheard, reschedule_unknown) of ``host`` in seconds (0: never)."""
        config = self.state.config
        if config.generation != self._generation:
            self._limits, self._generation = {}, config.generation
        found = self._limits.get(host)
        if found is None:
            conf = config.host_config(host)
            found = self._limits[host] = (_seconds(conf.get("max_unheard")), _seconds(conf.get("reschedule_unknown")))
        return found

    # ------------------------------------------------------------ one look at every host

    async def tick(self) -> None:
        state = self.state
        now = state.clock.now()
        if self._last_look is not None and now - self._last_look > JUMP_SECONDS:
            self._heard_from = now
        self._last_look = now
        for entry in list(state.hosts.values()):
            unheard, _ = self.limits(entry.name)
            heard = max(entry.last_report, self._heard_from)
            if entry.writer is not None and unheard and now - heard > unheard:
                self.declare_unknown(entry, heard + unheard,
                                     f"no load report for {now - entry.last_report:.0f} s (max_unheard {unheard:.0f} s)")
        due: dict[str, float] = {}
        unknown = self.unknown_hosts()
        for host, since in unknown.items():
            wait = self.limits(host)[1]
            if wait and now - since >= wait and self._swept.get(host) != since:
                due[host] = since
        for host in [h for h in self._swept if h not in unknown]:
            del self._swept[host]  # it reports again: a later absence is swept anew
        if due:
            await self.reschedule_from(due)

    def unknown_hosts(self) -> dict[str, float]:
        """Host -> since when it is unknown, for the hosts that run tasks or registered once."""
        state = self.state
        out: dict[str, float] = {}
        for name, entry in state.hosts.items():
            if entry.writer is None:
                out[name] = entry.unknown_since or self.started
        for job in state.jobs.values():
            for task in job.tasks.values():
                host = task.master.host
                if host not in state.hosts:
                    out[host] = self.started  # not registered since the master started
        return out

    def declare_unknown(self, entry: ExecHost, since: float, why: str) -> None:
        """The host is not heard any more: unknown from ``since``; its link is closed."""
        writer, entry.writer = entry.writer, None
        entry.unknown_since = since
        log.warning("host=%s is unknown: %s; its link is closed", entry.name, why)
        if writer is not None:
            writer.close()
        self.state.schedule_soon()

    async def reschedule_from(self, due: dict[str, float]) -> None:
        """Put the rerunnable jobs of hosts unknown for reschedule_unknown back to pending."""
        state = self.state
        moving = [(job, task) for job in list(state.jobs.values()) for task in list(job.tasks.values())
                  if task.master.host in due and may_reschedule(state.config, job, task, force=False)]
        for job, task in moving:
            log.warning("host=%s job=%d.%d rescheduled: the host is unknown for longer than reschedule_unknown",
                        task.master.host, job.job_id, task.task_id)
        await asyncio.gather(*(self.ends.task_finished(job, task, lost_run()) for job, task in moving))
        self._swept.update(due)


def _seconds(text: str | None) -> float:
    if not text or text.strip().upper() in ("NONE", "INFINITY"):
        return 0.0
    try:
        return parse_time(text)
    except (ValueError, InvalidRequest):
        return 0.0
