"""The states of queue instances, and the suspension of the jobs in them.

Grid Engine's letters, in the order qstat prints them: ``a`` load alarm (a load_thresholds
value exceeded), ``A`` suspend alarm (suspend_thresholds), ``C``/``D`` suspended/disabled by
a calendar, ``d``/``s`` disabled/suspended by qmod, ``u`` host not reporting, ``E`` error,
``S`` suspended by a superordinate queue (subordinate_list). ``d``, ``s`` and ``E`` are set by
people and stored; the others follow from configuration, load and time, and are computed
whenever they are needed (a scheduling pass, qstat) and by a ticker that wakes at the next
calendar transition (or every few seconds) to suspend and resume jobs on exec hosts.

A task is stopped (SIGSTOP through its exec daemon) while its job is suspended (qmod -sj,
state ``s``), any instance it runs in is suspended (``S``), or a suspend threshold picked it
(``T``); it is resumed (SIGCONT) when none of these holds any more.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Any

from qsys import protocol
from qsys.errors import InvalidRequest
from qsys.master.access import unix_groups
from qsys.master.checkpointing import migrates_on_suspend
from qsys.master.config import split_list
from qsys.master.configcache import instance_conf
from qsys.master.snapshot import used_slots
from qsys.store import StoreError

if TYPE_CHECKING:
    from qsys.master.core import HeldLink, Master
    from qsys.master.jobs import Job, Task

log = logging.getLogger("qsys.master.qstates")

STATE_ORDER = "aACDdsuESco"
MANUAL = "dsE"  # set by qmod, kept in the store
SUSPENDING = "sSC"  # instance states that stop the jobs in them
TICK_SECONDS = 2.0
SPOOL_ROOM = 16 << 20  # bytes an exec spool needs free before an E state it caused is cleared
_KIND_STATE = "qinstance_state"
_KIND_JOBS = "job_suspension"


def order_states(letters: str | set[str]) -> str:
    return "".join(c for c in STATE_ORDER if c in letters)


class QueueStates:
    """Kept by the master: manual instance states, suspended tasks, derived states."""

    def __init__(self, state: Master, link: HeldLink) -> None:
        self.state = state
        self.link = link
        self.manual: dict[str, str] = {}  # "queue@host" -> letters of MANUAL
        self.job_suspended: set[tuple[int, int]] = set()  # qmod -sj
        self.threshold_suspended: set[tuple[int, int]] = set()  # suspend_thresholds
        self.stopped: set[tuple[int, int]] = set()  # tasks told SIGSTOP
        self.rescheduling: set[tuple[int, int]] = set()  # qmod -rj: killed, to run again
        self.errors: dict[str, tuple[str, list[str]]] = {}  # "queue@host" in E -> (cause, messages)
        self._objects: dict[str, dict[str, dict[str, Any]]] = {}  # store objects config may not know
        self._schedules: dict[tuple[str, str], Any] = {}
        self._threshold_step: dict[str, float] = {}
        self._last: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # ------------------------------------------------------------ persistence

    def load(self, objects: dict[tuple[str, str], dict[str, Any]]) -> None:
        for (kind, name), record in objects.items():
            if kind == _KIND_STATE:
                self._restore_instance(name, record)
            elif kind == _KIND_JOBS:
                self._restore_jobs(name, record)
            elif kind in ("calendar", "userset"):
                attrs = record.get("attrs", record)
                self._objects.setdefault(kind, {})[name] = dict(attrs)

    def restorers(self) -> dict[str, Any]:
        """Undo of a refused change of the objects kept here (see ``rollback.py``)."""
        return {_KIND_STATE: self._restore_instance, _KIND_JOBS: self._restore_jobs}

    def _restore_instance(self, name: str, record: dict[str, Any] | None) -> None:
        record = record or {}
        letters = str(record.get("states", ""))
        if letters:
            self.manual[name] = letters
        else:
            self.manual.pop(name, None)
        if "E" in letters and record.get("messages"):
            self.errors[name] = (str(record.get("cause", "")), [str(m) for m in record["messages"]])
        else:
            self.errors.pop(name, None)

    def _restore_jobs(self, name: str, record: dict[str, Any] | None) -> None:
        record = record or {}
        self.job_suspended = {(int(j), int(t)) for j, t in record.get("suspended", [])}
        self.threshold_suspended = {(int(j), int(t)) for j, t in record.get("threshold", [])}
        self.stopped = {(int(j), int(t)) for j, t in record.get("stopped", [])}

    def manual_change(self, instance: str) -> Any:
        from qsys.store import DeleteObject, PutObject

        letters = self.manual.get(instance, "")
        if "E" not in letters:
            self.errors.pop(instance, None)
        if not letters:
            self.manual.pop(instance, None)
            return DeleteObject(_KIND_STATE, instance)
        record: dict[str, Any] = {"states": letters}
        if instance in self.errors:
            record["cause"], record["messages"] = self.errors[instance]
        return PutObject(_KIND_STATE, instance, record)

    def mark_error(self, queue: str, host: str, reason: str, job_id: int = 0, spool_full: bool = False) -> list[Any]:
        """A job could not start on this instance through no fault of its own: state E
        (cleared by ``qmod -c``, or by itself once a spool that was full has room again)."""
        name = f"{queue}@{host}"
        if "E" in self.manual.get(name, ""):
            return []
        log.warning("queue instance %s set in error state: %s", name, reason)
        self.manual[name] = order_states(set(self.manual.get(name, "")) | {"E"})
        messages = [f"queue {queue} marked QERROR as result of job {job_id}'s failure at host {host}"]
        if spool_full:
            messages.append(f"no space left in the exec spool of host {host}: "
                            "the error state clears by itself when there is room again")
        self.errors[name] = ("spool" if spool_full else "", messages)
        return [self.manual_change(name)]

    def spool_has_room(self, host: str, free: int) -> list[Any]:
        """The exec spool of ``host`` reports ``free`` bytes: clear the E states it caused."""
        if free < SPOOL_ROOM:
            return []
        changes = []
        for name, (cause, _) in list(self.errors.items()):
            if cause == "spool" and name.partition("@")[2] == host:
                log.warning("queue instance %s: error state cleared, the exec spool has room again (%d MB free)",
                            name, free >> 20)
                self.manual[name] = order_states(set(self.manual.get(name, "")) - {"E"})
                changes.append(self.manual_change(name))
        if changes:
            self.state.schedule_soon()
        return changes

    def messages(self, instance: str) -> list[str]:
        """Why the instance is in E (``qstat -explain E``)."""
        return list(self.errors.get(instance, ("", []))[1])

    def jobs_change(self) -> Any:
        from qsys.store import PutObject

        return PutObject(_KIND_JOBS, "all", {
            "suspended": sorted(self.job_suspended),
            "threshold": sorted(self.threshold_suspended),
            "stopped": sorted(self.stopped),
        })

    # ------------------------------------------------------------ configuration lookups

    def now(self) -> float:
        return self.state.clock.now()

    def _calendar(self, name: str) -> Any:
        """The parsed schedule of calendar ``name`` (None: no such calendar)."""
        from qsys.grammar.calendar import parse_calendar

        objects = getattr(self.state.config, "calendars", None)
        if objects is not None:
            obj = objects.get(name)
            if obj is None:
                return None
            year, week = getattr(obj, "year", None), getattr(obj, "week", None)
        else:
            attrs = self._objects.get("calendar", {}).get(name)
            if attrs is None:
                return None
            year, week = attrs.get("year"), attrs.get("week")
        key = (str(year), str(week))
        if key not in self._schedules:
            try:
                self._schedules[key] = parse_calendar(year, week)
            except InvalidRequest as exc:
                log.warning("calendar %s is malformed: %s", name, exc)
                self._schedules[key] = None
        return self._schedules[key]

    def _userset_members(self, name: str) -> list[str] | None:
        objects = getattr(self.state.config, "usersets", None)
        if objects is not None:
            obj = objects.get(name)
            return None if obj is None else list(getattr(obj, "entries", []) or [])
        attrs = self._objects.get("userset", {}).get(name)
        if attrs is None:
            return None
        entries = attrs.get("entries", [])
        return split_list(entries) if isinstance(entries, str) else list(entries)

    def user_allowed(self, user: str, user_lists: str | None, xuser_lists: str | None) -> bool:
        """Grid Engine's access rule: in one of user_lists (if any), in none of xuser_lists."""
        allow, deny = split_list(user_lists), split_list(xuser_lists)
        if not allow and not deny:
            return True
        groups = unix_groups(user)

        def member(names: list[str]) -> bool:
            for name in names:
                entries = self._userset_members(name) or []
                if user in entries or any("@" + g in entries for g in groups):
                    return True
            return False

        if deny and member(deny):
            return False
        return not allow or member(allow)

    # ------------------------------------------------------------ derived states

    def host_value(self, host: str, name: str) -> str | None:
        entry = self.state.hosts.get(host)
        if entry is not None and entry.up and name in entry.load:
            return str(entry.load[name])
        obj = self.state.config.exec_hosts.get(host)
        return None if obj is None else obj.complex_values.get(name)

    def _exceeded(self, host: str, thresholds: list[tuple[str, str]]) -> bool:
        """Is any ``(name, threshold)`` exceeded on ``host`` (value relop threshold)?"""
        from qsys.sched.values import compare

        for name, threshold in thresholds:
            cdef = self.state.config.resolve_complex(name)
            value = self.host_value(host, cdef.name if cdef is not None else name)
            if value is None or not threshold:
                continue
            ctype, relop = (cdef.type, cdef.relop) if cdef is not None else ("DOUBLE", ">=")
            try:
                if compare(ctype, relop, value, threshold):
                    return True
            except Exception:
                continue
        return False

    def _subordinated(self, used: Any) -> set[str]:
        """Instances suspended because a superordinate instance on the host is busy enough."""
        config = self.state.config
        out: set[str] = set()
        for qi in config.queue_instances(self.state.hosts):
            for name, limit in instance_conf(config, qi.queue, qi.host).subordinates:
                busy = used.get((qi.queue, qi.host), 0)
                need = int(limit) if limit.isdigit() and int(limit) > 0 else qi.slots
                if busy and busy >= need:
                    out.add(f"{name}@{qi.host}")
        return out

    def compute(self, now: float | None = None, used: dict[tuple[str, str], int] | None = None) -> dict[str, str]:
        """Every queue instance's state letters, now (``used``: the slots held per instance,
        when the caller has counted them already)."""
        master = self.state
        config = master.config
        now = self.now() if now is None else now
        if used is None:
            used = used_slots(master.jobs.values())
        subordinated = self._subordinated(used)
        out: dict[str, str] = {}
        for qi in config.queue_instances(master.hosts):
            name = f"{qi.queue}@{qi.host}"
            conf = instance_conf(config, qi.queue, qi.host)
            letters = set(qi.states) | set(self.manual.get(name, ""))
            entry = master.hosts.get(qi.host)
            if entry is None or not entry.up:
                letters.add("u")
            if self._exceeded(qi.host, conf.load_thresholds):
                letters.add("a")
            if self._exceeded(qi.host, conf.suspend_thresholds):
                letters.add("A")
            cal = conf.calendar
            if cal:
                schedule = self._calendar(cal)
                state = schedule.state_at(now) if schedule is not None else "on"
                if state == "off":
                    letters.add("D")
                elif state == "suspended":
                    letters.add("C")
            if name in subordinated:
                letters.add("S")
            out[name] = order_states(letters)
        return out

    def next_calendar_change(self, now: float) -> float | None:
        config = self.state.config
        soonest: float | None = None
        for qi in config.queue_instances(self.state.hosts):
            cal = config.queue_attr(qi.queue, "calendar", qi.host)
            if not cal or cal.upper() == "NONE":
                continue
            schedule = self._calendar(cal)
            when = schedule.next_change(now, horizon_days=8) if schedule is not None else None
            if when is not None and (soonest is None or when < soonest):
                soonest = when
        return soonest

    # ------------------------------------------------------------ the scheduler's view

    def decorate(self, queue_snaps: list[Any], pe_snaps: dict[str, Any], owners: set[str]) -> None:
        """Put states and access denials into a scheduling snapshot."""
        states = self.compute(used={(qi.queue, qi.host): qi.used_slots for qi in queue_snaps})
        config = self.state.config
        glob = config.global_conf
        glob_allow = ",".join(glob.user_lists or ()) or None
        glob_deny = ",".join(glob.xuser_lists or ()) or None
        cache: dict[tuple[str, str | None, str | None], bool] = {}

        def allowed(owner: str, ulists: str | None, xlists: str | None) -> bool:
            key = (owner, ulists, xlists)
            if key not in cache:
                cache[key] = self.user_allowed(owner, ulists, xlists)
            return cache[key]

        for qi in queue_snaps:
            qi.states = states.get(qi.name, qi.states)
            conf = instance_conf(config, qi.queue, qi.host)
            ulists, xlists = conf.user_lists, conf.xuser_lists
            denied = {o for o in owners
                      if not allowed(o, ulists, xlists)
                      or not allowed(o, glob_allow, glob_deny)}
            if denied:
                qi.denied_owners = frozenset(denied)
        for name, pe in pe_snaps.items():
            pe_obj = config.pes.get(name)
            if pe_obj is None:
                continue
            pe_allow, pe_deny = ",".join(pe_obj.user_lists) or None, ",".join(pe_obj.xuser_lists) or None
            denied = {o for o in owners if not allowed(o, pe_allow, pe_deny)}
            if denied:
                pe.denied_owners = frozenset(denied)

    # ------------------------------------------------------------ jobs

    def take_reschedule(self, job_id: int, task_id: int) -> bool:
        """Was this task killed by qmod -rj (so its end puts it back to pending)?"""
        key = (job_id, task_id)
        self.stopped.discard(key)
        self.job_suspended.discard(key)
        self.threshold_suspended.discard(key)
        if key in self.rescheduling:
            self.rescheduling.discard(key)
            return True
        return False

    def keep_reschedule(self, job_id: int, task_id: int) -> None:
        self.rescheduling.add((job_id, task_id))

    def task_state(self, job: Job, task: Task, states: dict[str, str] | None = None) -> str:
        """The letter a suspended task shows (s, S, T), "" when it is not suspended."""
        key = (job.job_id, task.task_id)
        if key in self.job_suspended:
            return "s"
        states = self.compute() if states is None else states
        for a in task.assignments:
            if any(c in SUSPENDING for c in states.get(f"{a.queue}@{a.host}", "")):
                return "S"
        if key in self.threshold_suspended:
            return "T"
        return ""

    def _thresholds(self, states: dict[str, str], now: float) -> bool:
        """Suspend (or resume) nsuspend tasks per suspend_interval of each instance in ``A``."""
        from qsys.sched.values import parse_time

        if not self.threshold_suspended and not any("A" in letters for letters in states.values()):
            return False  # no instance in A, no task held by a threshold: nothing to do
        config, changed = self.state.config, False
        running: dict[str, list[tuple[int, int]]] = {}
        for job in self.state.jobs.values():
            for task in job.tasks.values():
                master_q = task.master
                running.setdefault(f"{master_q.queue}@{master_q.host}", []).append((job.job_id, task.task_id))
        for name, letters in states.items():
            queue, _, host = name.partition("@")
            mine = sorted(running.get(name, []))
            held = [k for k in mine if k in self.threshold_suspended]
            if "A" not in letters and not held:
                continue
            try:
                interval = parse_time(config.queue_attr(queue, "suspend_interval", host) or "00:05:00")
                count = max(1, int(config.queue_attr(queue, "nsuspend", host) or "1"))
            except (ValueError, InvalidRequest):
                interval, count = 300.0, 1
            last = self._threshold_step.get(name)
            if last is not None and now - last < interval:
                continue
            if "A" in letters:
                chosen = [k for k in reversed(mine) if k not in self.threshold_suspended][:count]
                self.threshold_suspended.update(chosen)
            else:
                chosen = held[-count:]
                self.threshold_suspended.difference_update(chosen)
            if chosen:
                self._threshold_step[name] = now
                changed = True
        return changed

    def reconcile(self) -> list[Any]:
        """Stop or continue tasks as their states say; the store changes to commit."""
        master = self.state
        states = self.compute()
        changed = self._thresholds(states, self.now())
        alive: set[tuple[int, int]] = set()
        suspending = any(c in SUSPENDING for letters in states.values() for c in letters)
        quiet = not (suspending or self.stopped or self.job_suspended or self.threshold_suspended)
        for job in () if quiet else master.jobs.values():  # quiet: nothing stopped, nothing to stop
            for task in job.tasks.values():
                key = (job.job_id, task.task_id)
                alive.add(key)
                want = bool(self.task_state(job, task, states))
                if want == (key in self.stopped) or task.state != "r" or task.deleting:
                    continue
                if want and migrates_on_suspend(job.spec):  # checkpoint, end and run again
                    if key not in self.rescheduling:
                        self.rescheduling.add(key)
                        self.link.send(task.master.host, protocol.MigrateJob(job.job_id, task.task_id))
                        log.info("job=%d.%d suspended: migrating (checkpointing interface %s)", job.job_id,
                                 task.task_id, job.spec.checkpoint)
                    continue
                sig = signal.SIGSTOP if want else signal.SIGCONT
                for host in dict.fromkeys(a.host for a in task.assignments):
                    self.link.send(host, protocol.SignalJob(job.job_id, task.task_id, int(sig)))
                if want:
                    self.stopped.add(key)
                else:
                    self.stopped.discard(key)
                changed = True
                log.info("job=%d.%d %s", job.job_id, task.task_id, "suspended" if want else "resumed")
        for group in (self.stopped, self.job_suspended, self.threshold_suspended):
            gone = group - alive
            if gone:
                group.difference_update(gone)
                changed = True
        if states != self._last:
            self._last = states
            master.schedule_soon()
        return [self.jobs_change()] if changed else []

    # ------------------------------------------------------------ the ticker

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def poke(self) -> None:
        """Re-evaluate at once (after qmod, a finished task, a configuration change)."""
        self._wake.set()

    async def reconcile_and_commit(self) -> None:
        """:meth:`reconcile`, its signals sent once the stopped tasks are stored."""
        with self.link.holding() as signals:
            changes = self.reconcile()
        if changes:
            await self.state.commit(changes)
        self.link.deliver(signals)

    async def _loop(self) -> None:
        while True:
            try:
                await self.reconcile_and_commit()
                now = self.now()
                upcoming = self.next_calendar_change(now)
                delay = TICK_SECONDS if upcoming is None else max(0.05, min(TICK_SECONDS, upcoming - now))
            except asyncio.CancelledError:
                raise
            except StoreError:
                delay = TICK_SECONDS  # undone; the store's state is evaluated again next tick
            except Exception:
                log.exception("queue state evaluation failed")
                delay = TICK_SECONDS
            await self.state.clock.wait(self._wake, delay)
            self._wake.clear()

