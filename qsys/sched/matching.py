"""Does a job's request fit a queue instance?

Two kinds of checks: *static* ones that cannot change within a pass (queue type, -q list,
PE list, fixed values and load values), evaluated once per category and queue instance,
and *amounts* (slots and consumables), kept in a :class:`Ledger`, the pass's working copy
of what is still free at the queue, host and global level.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from qsys.errors import InvalidRequest
from qsys.sched.snapshot import ComplexDef, HostSnap, PendingJob, QueueInstanceSnap, Snapshot
from qsys.sched.values import compare, format_amount, parse_value

UNAVAILABLE_STATES = frozenset("dsauEcCDS")  # not A: a suspend alarm only suspends
_STATE_WORDS = {
    "d": "disabled", "s": "suspended", "a": "overloaded", "E": "in error state",
    "c": "in configuration ambiguous state", "C": "suspended by calendar",
    "u": "temporarily not available", "D": "disabled by calendar",
    "S": "suspended by subordination",
}

GLOBAL = "g"
HOST = "h"
QUEUE = "q"


@dataclass(slots=True)
class Amount:
    """A consumable request: ``amount`` per slot (YES) or per job (JOB)."""

    cdef: ComplexDef
    amount: float
    text: str  # as the user wrote it, for messages
    implicit: bool = False  # the complex's default, not a request: absent means no limit


@dataclass(slots=True)
class JobRequest:
    """One category's requests, resolved against the complexes (shortcuts expanded)."""

    fixed: list[tuple[ComplexDef, str]] = field(default_factory=list)
    per_slot: list[Amount] = field(default_factory=list)
    per_job: list[Amount] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    master_queues: list[str] = field(default_factory=list)
    interactive: bool = False
    pe: tuple[str, int, int] | None = None
    project: str | None = None  # -P
    checkpoint: str | None = None  # -ckpt
    shown: str = "NONE"  # the -l list as Grid Engine's reasons start: "(-l a=1,b=2)", by name


def shown_resources(resources: dict[str, str]) -> str:
    """A job's -l list as Grid Engine's scheduling reasons show it (sorted by name)."""
    return ",".join(f"{name}={text}" for name, text in sorted(resources.items())) or "NONE"


def place_words(tag: str, qi: QueueInstanceSnap) -> str:
    """Where a value that fails comes from, in Grid Engine's words: a queue instance's
    (``qc``/``qf``), a host's (``hc``/``hf``/``hl``) or the cluster's (``gc``/``gf``)."""
    if tag.startswith("q"):
        return f'in queue "{qi.name}"'
    if tag.startswith("h"):
        return f'at host "{qi.host}"'
    return "globally"


def compile_request(job: PendingJob, index: dict[str, ComplexDef]) -> JobRequest:
    """Resolve a job's ``-l`` requests; raises InvalidRequest for what can never be valid."""
    req = JobRequest(
        queues=list(job.hard_queues),
        master_queues=list(job.master_queues),
        interactive=job.interactive,
        pe=job.pe,
        project=job.project,
        checkpoint=job.checkpoint,
        shown=shown_resources(job.hard_resources),
    )
    requested: set[str] = set()
    for name, text in job.hard_resources.items():
        cdef = index.get(name)
        if cdef is None:
            raise InvalidRequest(f'job requests unknown resource "{name}"')
        if not cdef.requestable:
            raise InvalidRequest(f'job requests resource "{name}" which is not requestable')
        requested.add(cdef.name)
        if cdef.name == "slots":
            continue  # slots come from the PE request (or 1), never from -l
        value = parse_value(cdef.type, text)
        if cdef.is_consumable:
            if not isinstance(value, float) or value < 0:
                raise InvalidRequest(f'invalid value "{text}" for consumable "{cdef.name}"')
            amounts = req.per_job if cdef.consumable == "JOB" else req.per_slot
            amounts.append(Amount(cdef, value, f"{name}={text}"))
        else:
            req.fixed.append((cdef, text))
    for cdef in set(index.values()):
        if not cdef.is_consumable or cdef.name in requested or cdef.name == "slots":
            continue
        try:
            default = parse_value(cdef.type, cdef.default)
        except InvalidRequest:
            continue
        if isinstance(default, float) and default > 0:
            amounts = req.per_job if cdef.consumable == "JOB" else req.per_slot
            amounts.append(Amount(cdef, default, f"{cdef.name}={cdef.default}", implicit=True))
    return req


def queue_matches(patterns: list[str], qi: QueueInstanceSnap, hostgroups: dict[str, list[str]]) -> bool:
    """Is ``qi`` named by one of ``queue``, ``queue@host``, ``*@node[12]``, ``q@@group``?"""
    for pattern in patterns:
        qpart, at, hpart = pattern.partition("@")
        if qpart and not fnmatch.fnmatchcase(qi.queue, qpart):
            continue
        if not at or not hpart:
            return True
        if hpart.startswith("@"):
            members = hostgroups.get(hpart)
            if members is None or qi.host in members:
                return True  # an unknown host group is not ours to judge
            continue
        if fnmatch.fnmatchcase(qi.host.lower(), hpart.lower()):
            return True
    return False


def project_reason(project: str | None, allow: list[str], deny: list[str], where: str) -> str | None:
    """Why a job of ``project`` may not run in ``where`` (``cluster queue "q"``, ``host "h"``):
    not in its ``projects`` (when it names any; a job without a project then may not run
    there) or in its ``xprojects``, in Grid Engine's words; None when it may."""
    shown = f"project {project}" if project else "no project"
    if project is not None and project in deny:
        return f"({shown}) is not allowed to run in {where} based on the excluded project list"
    if allow and project not in allow:
        return f"({shown}) does not have the correct project to run in {where}"
    return None


def unavailable_reason(qi: QueueInstanceSnap, host: HostSnap | None) -> str | None:
    """Why ``qi`` takes no job now (its state, or a load threshold exceeded)."""
    for state in qi.states:
        if state in UNAVAILABLE_STATES:
            return f'queue instance "{qi.name}" dropped because it is {_STATE_WORDS[state]}'
    if qi.load_thresholds and host is not None:
        for name, limit in qi.load_thresholds.items():
            value = host.load.get(name)
            try:
                if value is not None and float(value) >= float(limit):
                    return f'queue instance "{qi.name}" dropped because it is overloaded: {name}={value}'
            except ValueError:
                continue
    return None


def _offered(cdef: ComplexDef, qi: QueueInstanceSnap, host: HostSnap | None,
             snap: Snapshot) -> tuple[str, str] | None:
    """The value a queue instance offers for a fixed complex, with Grid Engine's source tag."""
    if cdef.name == "hostname":
        return "hf", qi.host
    if cdef.name == "qname":
        return "qf", qi.queue
    if cdef.name in qi.complex_values:
        return "qf", qi.complex_values[cdef.name]
    if host is not None:
        if cdef.name in host.complex_values:
            return "hf", host.complex_values[cdef.name]
        if cdef.name in host.load:
            return "hl", host.load[cdef.name]
    if cdef.name in snap.global_values:
        return "gf", snap.global_values[cdef.name]
    return None


# A static check: (reason or None, whether it read a load value that may change between
# passes). Checks are pure functions of one queue instance, so a pass may evaluate each once
# over all instances and keep the failures (see qsys.sched.memo).
Check = Callable[[QueueInstanceSnap, HostSnap | None, Snapshot], tuple[str | None, bool]]
STABLE_LOADS = ("arch", "num_proc")  # load values that describe the host, not its load


def request_checks(req: JobRequest, strict: bool = True) -> list[tuple[tuple[object, ...], Check]]:
    """The static checks of a request in the order they are tried, each with a key naming
    what it depends on (two requests with a check of the same key share its outcome).

    With ``strict`` off the question is "could it ever": load values then count as met.
    """
    checks: list[tuple[tuple[object, ...], Check]] = []
    needed = "INTERACTIVE" if req.interactive else "BATCH"
    checks.append((("type", needed), partial(_type_check, needed)))
    master = tuple(req.master_queues) if req.pe else ()
    if req.queues:
        checks.append((("queues", tuple(req.queues), master), partial(_queue_check, req.queues, master)))
    if req.pe is not None:
        checks.append((("pe", req.pe[0]), partial(_pe_check, req.pe[0])))
    if req.checkpoint is not None:
        checks.append((("ckpt", req.checkpoint), partial(_ckpt_check, req.checkpoint)))
    checks.append((("project", req.project), partial(_project_check, req.project)))
    for cdef, text in req.fixed:
        checks.append((("fixed", cdef, text, strict, req.shown), partial(_fixed_check, cdef, text, strict, req.shown)))
    for amount in (*req.per_slot, *req.per_job):
        if not amount.implicit:
            checks.append((("defined", amount.cdef.name, req.shown),
                           partial(_defined_check, amount.cdef.name, req.shown)))
    return checks


def static_reason(req: JobRequest, qi: QueueInstanceSnap, host: HostSnap | None, snap: Snapshot,
                  strict: bool = True) -> str | None:
    """Why ``qi`` can never take a job of this category in this pass (None: it can).

    With ``strict`` off the question is "could it ever": load values then count as met, and
    consumables are measured against their full capacity instead of what is free.
    """
    for _key, check in request_checks(req, strict):
        why = check(qi, host, snap)[0]
        if why is not None:
            return why
    if not strict:
        return Ledger(snap, empty=True).amounts_reason(req, qi, host, 1)
    return None


def _type_check(needed: str, qi: QueueInstanceSnap, host: HostSnap | None, snap: Snapshot) -> tuple[str | None, bool]:
    if needed not in qi.qtype:
        return f'cannot run in queue instance "{qi.name}" because it is not of type {needed.lower()}', False
    return None, False


def _queue_check(queues: list[str], master: tuple[str, ...], qi: QueueInstanceSnap, host: HostSnap | None,
                 snap: Snapshot) -> tuple[str | None, bool]:
    if queue_matches(queues, qi, snap.hostgroups) or (master and queue_matches(list(master), qi, snap.hostgroups)):
        return None, False
    return f'cannot run in queue "{qi.queue}" because it is not contained in its hard queue list (-q)', False


def _pe_check(pattern: str, qi: QueueInstanceSnap, host: HostSnap | None, snap: Snapshot) -> tuple[str | None, bool]:
    if any(fnmatch.fnmatchcase(pe, pattern) for pe in qi.pe_list):
        return None, False
    return f'cannot run in queue "{qi.queue}" because PE "{pattern}" is not in PE list', False


def _ckpt_check(name: str, qi: QueueInstanceSnap, host: HostSnap | None, snap: Snapshot) -> tuple[str | None, bool]:
    if not qi.ckpt_list:
        return f'cannot run in queue instance "{qi.name}" because it is not of type checkpointing', False
    if name not in qi.ckpt_list:
        return (f'cannot run in queue instance "{qi.name}" because ckpt object "{name}" '
                "is not in ckpt list of queue"), False
    return None, False


def _project_check(project: str | None, qi: QueueInstanceSnap, host: HostSnap | None,
                   snap: Snapshot) -> tuple[str | None, bool]:
    why = project_reason(project, qi.projects, qi.xprojects, f'cluster queue "{qi.queue}"')
    if why is None and host is not None:
        why = project_reason(project, host.projects, host.xprojects, f'host "{qi.host}"')
    return why, False


def _fixed_check(cdef: ComplexDef, text: str, strict: bool, shown: str, qi: QueueInstanceSnap,
                 host: HostSnap | None, snap: Snapshot) -> tuple[str | None, bool]:
    offer = _offered(cdef, qi, host, snap)
    if offer is None:
        if not strict and host is not None and not host.load:
            return None, False  # a host that does not report yet may offer it later
        return unknown_resource(shown, qi, cdef.name), False
    source, value = offer
    moving = source == "hl" and cdef.name not in STABLE_LOADS
    if not strict and moving:
        return None, False
    try:
        ok = compare(cdef.type, cdef.relop, text, value)
    except InvalidRequest:
        ok = False  # a malformed offer satisfies nothing
    if not ok:
        return (f'(-l {shown}) cannot run {place_words(source, qi)} because it offers only '
                f'{source}:{cdef.name}={value}', moving)
    return None, moving


def _defined_check(name: str, shown: str, qi: QueueInstanceSnap, host: HostSnap | None,
                   snap: Snapshot) -> tuple[str | None, bool]:
    if name in qi.complex_values or (host is not None and name in host.complex_values) or name in snap.global_values:
        return None, False
    return unknown_resource(shown, qi, name), False


def unknown_resource(shown: str, qi: QueueInstanceSnap, name: str) -> str:
    """A requested complex that nothing at ``qi`` defines."""
    return f'(-l {shown}) cannot run in queue "{qi.name}" because job requests unknown resource ({name})'


class Ledger:
    """What is still free during one pass, per (level, owner, complex); filled lazily."""

    __slots__ = ("_snap", "_free", "_empty", "version")

    def __init__(self, snap: Snapshot, empty: bool = False) -> None:
        self._snap = snap
        self._free: dict[tuple[str, object, str], float | None] = {}
        self._empty = empty  # True: ignore what running jobs hold (the "ever" question)
        self.version = 0  # counts the takes: what was worked out from the amounts holds while it stays

    def _initial(self, level: str, owner: QueueInstanceSnap | str, cdef: ComplexDef) -> float | None:
        name = cdef.name
        if level == QUEUE:
            assert isinstance(owner, QueueInstanceSnap)
            if name == "slots":
                return float(owner.slots - (0 if self._empty else owner.used_slots))
            text, consumed = owner.complex_values.get(name), owner.consumed.get(name, 0.0)
        elif level == HOST:
            host = self._snap.hosts.get(str(owner))
            if host is None:
                return None
            text, consumed = host.complex_values.get(name), host.consumed.get(name, 0.0)
        else:
            text, consumed = self._snap.global_values.get(name), self._snap.global_consumed.get(name, 0.0)
        if text is None:
            return None
        try:
            total = parse_value(cdef.type, text)
        except InvalidRequest:
            return 0.0
        return float(total) - (0.0 if self._empty else consumed)

    def free(self, level: str, owner: QueueInstanceSnap | str, cdef: ComplexDef) -> float | None:
        """Free amount, or None when the complex is not defined at that level."""
        key = (level, id(owner) if level == QUEUE else owner, cdef.name)
        if key not in self._free:
            self._free[key] = self._initial(level, owner, cdef)
        return self._free[key]

    def take(self, level: str, owner: QueueInstanceSnap | str, cdef: ComplexDef, amount: float) -> None:
        current = self.free(level, owner, cdef)
        self.version += 1
        if current is not None:
            self._free[(level, id(owner) if level == QUEUE else owner, cdef.name)] = current - amount

    def slot_cap(self, level: str, owner: QueueInstanceSnap | str, per_slot: list[Amount],
                 slots: ComplexDef) -> float:
        """How many slots fit at one level, given the per-slot consumables (inf: no limit)."""
        cap = math.inf
        free = self.free(level, owner, slots)
        if free is not None and not math.isinf(free):
            cap = max(0.0, math.floor(free))
        for amount in per_slot:
            free = self.free(level, owner, amount.cdef)
            if free is None or amount.amount <= 0 or math.isinf(free):
                continue
            cap = min(cap, max(0.0, math.floor(free / amount.amount + 1e-9)))
        return cap

    def job_fits(self, per_job: list[Amount], qi: QueueInstanceSnap) -> Amount | None:
        """The first per-job consumable that does not fit at ``qi`` (None: all fit)."""
        for amount in per_job:
            for level, owner in ((QUEUE, qi), (HOST, qi.host), (GLOBAL, "")):
                free = self.free(level, owner, amount.cdef)
                if free is not None and free + 1e-9 < amount.amount:
                    return amount
        return None

    def amounts_reason(self, req: JobRequest, qi: QueueInstanceSnap, host: HostSnap | None,
                       slots: int) -> str | None:
        """Why ``slots`` slots (and the per-job amounts) do not fit on ``qi`` now (None: they
        do), as Grid Engine says it: at the level (queue instance, host, cluster) that lacks it."""
        slots_def = self._snap.complexes.get("slots") or _SLOTS
        for level, owner in ((QUEUE, qi), (HOST, qi.host), (GLOBAL, "")):
            free = self.free(level, owner, slots_def)
            if free is not None and free < slots:
                if level == QUEUE:
                    return f'queue instance "{qi.name}" dropped because it is full'
                return self._short(req, qi, level, "slots", f"{max(free, 0.0):.6f}")
            for amount in req.per_slot:
                free = self.free(level, owner, amount.cdef)
                if free is not None and free + 1e-9 < amount.amount * slots:
                    return self._short(req, qi, level, amount.cdef.name, format_amount(amount.cdef.type, free))
            for amount in req.per_job:
                free = self.free(level, owner, amount.cdef)
                if free is not None and free + 1e-9 < amount.amount:
                    return self._short(req, qi, level, amount.cdef.name, format_amount(amount.cdef.type, free))
        return None

    @staticmethod
    def _short(req: JobRequest, qi: QueueInstanceSnap, level: str, name: str, shown: str) -> str:
        tag = f"{level}c"
        return f'(-l {req.shown}) cannot run {place_words(tag, qi)} because it offers only {tag}:{name}={shown}'


_SLOTS = ComplexDef("slots", "s", "INT", "<=", True, "YES", "1", 1000)
