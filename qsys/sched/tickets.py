"""Tickets as sched_conf(5) defines them, and the job priority they make.

Three policies hand out tickets, each in proportion to its weight in the scheduler
configuration (``weight_tickets_share``, ``weight_tickets_functional``, override tickets):

* the share tree: long-term entitlements of users and projects, corrected by their past usage
  (decayed with ``halftime``, see :func:`decay_usage`) with ``compensation_factor`` bounding
  the correction;
* the functional policy: fixed shares of users, projects, departments and jobs
  (``weight_user`` ... ``weight_job``), shared by the jobs of each (``share_functional_shares``);
* override tickets of users, projects, departments and jobs (``share_override_tickets``).

A job's priority is ``weight_priority * npprior + weight_urgency * nurg + weight_ticket *
ntckts``. The computation follows Grid Engine's: pending jobs are ordered by the tickets they
would get if they ran next (a greedy pass over *functional categories*, jobs with the same
user, project, department and job share, so its cost grows with the categories, not the jobs),
the share-tree tickets of the k-th pending job of a node are its short-term entitlement over
k. An array job takes part with up to ``max_pending_tasks_per_job`` tasks, each with its own
tickets. Nothing here does I/O.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from qsys.objects.sharetree import DEFAULT_NODE, PROJECT, ShareNode
from qsys.sched.snapshot import JobPriority, ObjectShares, PendingJob, RunningJob, TicketConfig

DEFAULT_DEPARTMENT = "defaultdepartment"
MIN_USAGE = 1.0  # usage below this (times the entitlement) counts as this much (Grid Engine's)
_EPSILON = 0.001  # added to functional share sums while ordering (as Grid Engine does)


def decay_usage(usage: float, elapsed: float, halftime_hours: float) -> float:
    """``usage`` after ``elapsed`` seconds of exponential decay with the given half-life;
    a half-life of 0 means no decay (sched_conf(5) ``halftime``)."""
    if halftime_hours <= 0 or elapsed <= 0:
        return usage
    return usage * 0.5 ** (elapsed / (halftime_hours * 3600.0))


def combined_usage(usage: dict[str, float] | None, weights: dict[str, float]) -> float:
    """One usage figure from cpu/mem/io by ``usage_weight_list`` (weights normalised)."""
    if not usage:
        return 0.0
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(usage.get(name, 0.0) * weight for name, weight in weights.items()) / total


@dataclass(slots=True, eq=False)
class Ref:
    """One holder of tickets: a running task or one of a pending job's first tasks."""

    job_id: int
    index: int  # pending: position among the job's pending tasks; running: task id
    pending: bool
    user: str
    project: str | None
    department: str
    job_share: int
    job_otickets: int
    node: _Node | None = None
    otickets: float = 0.0
    ftickets: float = 0.0
    stickets: float = 0.0
    tickets: float = 0.0  # of the policies computed so far (dependent policies sort by it)
    sort: float = 0.0  # share tree: the order among pending jobs
    share: float = 0.0  # share tree: the part of the share-tree tickets this ref gets

    @property
    def total(self) -> float:
        return self.otickets + self.ftickets + self.stickets


@dataclass(slots=True)
class TicketResult:
    pending: dict[int, list[Ref]] = field(default_factory=dict)  # job -> its task refs in order
    running: list[Ref] = field(default_factory=list)


# ---------------------------------------------------------------- building the refs


def make_refs(jobs: Iterable[PendingJob], running: Iterable[RunningJob], config: TicketConfig) -> TicketResult:
    result = TicketResult()
    for run in running:
        result.running.append(Ref(run.job_id, run.task_id, False, run.owner, run.project,
                                  run.department or DEFAULT_DEPARTMENT, run.job_share, run.override_tickets))
    limit = max(1, config.max_pending_tasks_per_job)
    for job in sorted(jobs, key=lambda j: (j.submit_time, j.job_id)):
        if job.held or job.waiting_on or not job.task_ids:
            continue
        count = min(len(job.task_ids), limit)
        result.pending[job.job_id] = [
            Ref(job.job_id, k, True, job.owner, job.project, job.department or DEFAULT_DEPARTMENT,
                job.job_share, job.override_tickets)
            for k in range(count)]
    return result


def _hierarchy(text: str) -> list[tuple[str, bool]]:
    """(policy letter, dependent) in computing order: listed ones first, each after the first
    sorting by the tickets of those before it; the others after them, independent."""
    listed = [] if text.upper() == "NONE" else [c for c in text.upper() if c in "OFS"]
    out = [(letter, index > 0) for index, letter in enumerate(listed)]
    out.extend((letter, False) for letter in "OFS" if letter not in listed)
    return out


def compute(jobs: Sequence[PendingJob], running: Sequence[RunningJob], config: TicketConfig) -> TicketResult:
    """Tickets of every running task and of the first pending tasks of every eligible job."""
    result = make_refs(jobs, running, config)
    pending = [ref for refs in result.pending.values() for ref in refs]
    everyone = [*result.running, *pending]
    for letter, dependent in _hierarchy(config.policy_hierarchy):
        if letter == "O":
            _override(result.running, pending, config, dependent)
        elif letter == "F" and config.weight_tickets_functional > 0:
            _functional(result.running, pending, config, dependent)
        elif letter == "S" and config.weight_tickets_share > 0 and config.share_tree is not None:
            _share_tree(result.running, pending, config, dependent)
        for ref in everyone:
            ref.tickets = ref.total
    return result


# ---------------------------------------------------------------- override tickets


def _oticket(table: dict[str, ObjectShares], name: str | None) -> int:
    entry = table.get(name) if name is not None else None
    return entry.oticket if entry is not None else 0


def _override(running: list[Ref], pending: list[Ref], config: TicketConfig, dependent: bool) -> None:
    tables = (config.users, config.projects, config.departments)

    def owners(ref: Ref) -> list[tuple[int, str, int]]:
        out = []
        for kind, (table, name) in enumerate(zip(tables, (ref.user, ref.project, ref.department), strict=True)):
            tickets = _oticket(table, name)
            if tickets > 0 and name is not None:
                out.append((kind, name, tickets))
        return out

    if not config.share_override_tickets:
        for ref in [*running, *pending]:
            ref.otickets = sum(t for _, _, t in owners(ref)) + ref.job_otickets
        return
    counts: dict[tuple[int, str], int] = {}
    for ref in running:
        for kind, name, _ in owners(ref):
            counts[(kind, name)] = counts.get((kind, name), 0) + 1
    for ref in running:
        ref.otickets = sum(t / counts[(k, n)] for k, n, t in owners(ref)) + ref.job_otickets

    def value(ref: Ref, own: list[tuple[int, str, int]]) -> float:
        return sum(t / (counts.get((k, n), 0) + 1) for k, n, t in own) + ref.job_otickets

    categories = _categories([r for r in pending if owners(r) or r.job_otickets],
                             lambda r: (tuple((k, n) for k, n, _ in owners(r)), r.job_otickets), dependent)
    own_of = {key: owners(group[0]) for key, group in categories.items()}

    def current(key: tuple[object, ...]) -> float:
        ref = categories[key][-1]
        return value(ref, own_of[key]) + (ref.tickets if dependent else 0.0)

    for key, ref in _greedy(categories, current, math.inf):
        ref.otickets = value(ref, own_of[key])
        for kind, name, _ in own_of[key]:
            counts[(kind, name)] = counts.get((kind, name), 0) + 1


# ---------------------------------------------------------------- the greedy ordering


def _categories(refs: list[Ref], key_of: Callable[[Ref], tuple[object, ...]],
                dependent: bool) -> dict[tuple[object, ...], list[Ref]]:
    """Refs grouped by ``key_of``, each group in the order its jobs are taken (by the tickets
    of the policies before, if dependent, then job and task number), stored reversed so that
    ``group[-1]`` is the next one."""
    groups: dict[tuple[object, ...], list[Ref]] = {}
    for ref in refs:
        groups.setdefault(key_of(ref), []).append(ref)
    for group in groups.values():
        if dependent:
            group.sort(key=lambda r: (-r.tickets, r.job_id, r.index))
        group.reverse()
    return groups


def _greedy(categories: dict[tuple[object, ...], list[Ref]],
            current: Callable[[tuple[object, ...]], float],
            limit: float) -> Iterator[tuple[tuple[object, ...], Ref]]:
    """Take, ``limit`` times, the job that would get the most tickets if it ran next (ties:
    the lower job and task number); ``current(key)`` is what the next job of a category would
    get now. Those values only fall as jobs are taken, so a heap of values computed earlier
    holds upper bounds, and an entry whose value is still the same is the maximum."""
    heap: list[tuple[float, int, int, int, tuple[object, ...]]] = []
    for n, (key, group) in enumerate(categories.items()):
        if group:
            heap.append((-current(key), group[-1].job_id, group[-1].index, n, key))
    heapq.heapify(heap)
    taken = 0
    while heap and taken < limit:
        stored = heap[0]
        key = stored[4]
        group = categories[key]
        entry = (-current(key), group[-1].job_id, group[-1].index, stored[3], key)
        if entry[:4] != stored[:4]:
            heapq.heapreplace(heap, entry)
            continue
        ref = group.pop()
        taken += 1
        yield key, ref
        if group:
            heapq.heapreplace(heap, (-current(key), group[-1].job_id, group[-1].index, stored[3], key))
        else:
            heapq.heappop(heap)


# ---------------------------------------------------------------- functional tickets


def _functional(running: list[Ref], pending: list[Ref], config: TicketConfig, dependent: bool) -> None:
    total = config.weight_tickets_functional
    raw = (config.weight_user, config.weight_project, config.weight_department, config.weight_job)
    wsum = sum(raw)
    w_user, w_project, w_dept, w_job = (w / wsum for w in raw) if wsum > 0 else (0.0,) * 4
    weights = (w_user, w_project, w_dept)
    tables = (config.users, config.projects, config.departments)
    shared = config.share_functional_shares

    def owners(ref: Ref) -> tuple[tuple[int, str, int], ...]:
        out = []
        for kind, (table, name) in enumerate(zip(tables, (ref.user, ref.project, ref.department), strict=True)):
            entry = table.get(name) if name is not None else None
            if entry is not None and entry.fshare > 0 and name is not None:
                out.append((kind, name, entry.fshare))
        return tuple(out)

    counts: dict[tuple[int, str], int] = {}
    sums = [0.0, 0.0, 0.0]
    job_sum = 0.0
    run_owners = [owners(ref) for ref in running]
    for own in run_owners:
        for kind, name, _ in own:
            counts[(kind, name)] = counts.get((kind, name), 0) + 1
    for ref, own in zip(running, run_owners, strict=True):
        for kind, name, fshare in own:
            sums[kind] += fshare / counts[(kind, name)] if shared else fshare
        job_sum += ref.job_share
    for ref, own in zip(running, run_owners, strict=True):
        tickets = 0.0
        for kind, name, fshare in own:
            share = fshare / counts[(kind, name)] if shared else fshare
            tickets += weights[kind] * share * total / sums[kind]
        if job_sum:
            tickets += w_job * ref.job_share * total / job_sum
        ref.ftickets = tickets

    candidates = [ref for ref in pending if ref.job_share or owners(ref)]
    categories = _categories(candidates, lambda r: (owners(r), r.job_share), dependent)
    own_of: dict[tuple[object, ...], tuple[tuple[int, str, int], ...]] = {
        key: owners(group[0]) for key, group in categories.items()}
    state = {"job_sum": job_sum}

    def would_get(key: tuple[object, ...], ref: Ref) -> float:
        """Tickets if this job ran next (Grid Engine's estimate, sums padded by 0.001)."""
        tickets = 0.0
        for kind, name, fshare in own_of[key]:
            if shared:
                tickets += weights[kind] * (fshare / (counts.get((kind, name), 0) + 1)) * total / (sums[kind] + _EPSILON)
            else:
                tickets += weights[kind] * fshare * total / (sums[kind] + _EPSILON + fshare)
        if ref.job_share:
            tickets += w_job * ref.job_share * total / (state["job_sum"] + _EPSILON + ref.job_share)
        return tickets

    def current(key: tuple[object, ...]) -> float:
        ref = categories[key][-1]
        return would_get(key, ref) + (ref.tickets if dependent else 0.0)

    last: dict[tuple[object, ...], float] = {}
    limit = max(0, config.max_functional_jobs_to_schedule)
    for key, ref in _greedy(categories, current, limit):
        tickets = 0.0
        for kind, name, fshare in own_of[key]:
            count = counts[(kind, name)] = counts.get((kind, name), 0) + 1
            share = fshare / count if shared else fshare
            if not shared or count <= 1:
                sums[kind] += share
            tickets += weights[kind] * share * total / sums[kind]
        state["job_sum"] += ref.job_share
        if state["job_sum"]:
            tickets += w_job * ref.job_share * total / state["job_sum"]
        ref.ftickets = last[key] = tickets
    for key, queue in categories.items():  # beyond max_functional_jobs_to_schedule
        if queue:
            guess = last[key] if key in last else would_get(key, queue[-1])
            for ref in queue:
                ref.ftickets = guess


# ---------------------------------------------------------------- share-tree tickets


class _Node:
    __slots__ = ("name", "shares", "kind", "children", "refs", "count", "active", "usage",
                 "stt", "ostt", "oltt", "project")

    def __init__(self, name: str, shares: int, kind: int, project: str | None) -> None:
        self.name, self.shares, self.kind, self.project = name, shares, kind, project
        self.children: list[_Node] = []
        self.refs: list[Ref] = []
        self.count = self.active = 0
        self.usage = self.stt = self.ostt = self.oltt = 0.0


class _Tree:
    """A working copy of the share tree for one computation."""

    def __init__(self, root: ShareNode) -> None:
        self.users: dict[str, _Node] = {}  # user nodes outside any project
        self.defaults: list[_Node] = []  # "default" nodes outside any project
        self.projects: dict[str, _Node] = {}
        self.parent: dict[int, _Node] = {}
        self.temp: dict[tuple[int, str], _Node] = {}
        self.root = self._copy(root, None)

    def _copy(self, node: ShareNode, project: str | None) -> _Node:
        is_project = node.type == PROJECT
        if is_project and project is None:
            project = node.name
        out = _Node(node.name, node.shares, node.type, project)
        if is_project and node.name not in self.projects:
            self.projects[node.name] = out
        elif project is None and not node.children:
            if node.name == DEFAULT_NODE:
                self.defaults.append(out)
            else:
                self.users.setdefault(node.name, out)
        for child in node.children:
            copy = self._copy(child, project)
            self.parent[id(copy)] = out
            out.children.append(copy)
        return out

    def node_for(self, user: str, project: str | None) -> _Node | None:
        """The leaf a job counts under: its user below its project's node (or that node's
        ``default``), else its user's own node (or a top-level ``default``)."""
        if project is not None and project in self.projects:
            top = self.projects[project]
            if not top.children:
                return top
            found = self._find_below(top, user)
            if found is not None:
                return found
            default = self._find_below(top, DEFAULT_NODE)
            return self._for_default(default, user) if default is not None else None
        if user in self.users:
            return self.users[user]
        return self._for_default(self.defaults[0], user) if self.defaults else None

    def _find_below(self, node: _Node, name: str) -> _Node | None:
        for child in node.children:
            if child.name == name and not child.children:
                return child
            found = self._find_below(child, name)
            if found is not None:
                return found
        return None

    def _for_default(self, default: _Node, user: str) -> _Node:
        """A node of its own for each user a ``default`` node stands for, with its shares."""
        parent = self.parent[id(default)]
        key = (id(parent), user)
        node = self.temp.get(key)
        if node is None:
            node = self.temp[key] = _Node(user, default.shares, default.kind, default.project)
            parent.children.append(node)
            self.parent[id(node)] = parent
        return node


def _share_tree(running: list[Ref], pending: list[Ref], config: TicketConfig, dependent: bool) -> None:
    assert config.share_tree is not None
    total = config.weight_tickets_share
    tree = _Tree(config.share_tree)
    for ref in [*running, *pending]:
        ref.node = tree.node_for(ref.user, ref.project)
        if ref.node is not None:
            ref.node.refs.append(ref)
    _count(tree.root)
    _usage(tree.root, config)
    tree.root.stt = tree.root.ostt = tree.root.oltt = 1.0
    _targets(tree.root, config.compensation_factor)
    for ref in running:
        node = ref.node
        if node is None or not node.count:
            continue
        share = node.ostt * total
        shares_sum = sum(r.job_share for r in node.refs if not r.pending)
        ref.stickets = ref.job_share * share / shares_sum if shares_sum else share / node.count
    for ref in pending:
        ref.sort = ref.tickets + 0.01 * ref.job_share if dependent else float(ref.job_share)
    for ref in _pending_order(tree.root, tree.root, total, dependent):
        ref.stickets = ref.share * total


def _count(node: _Node) -> None:
    node.count = len(node.refs)
    node.active = sum(1 for ref in node.refs if not ref.pending)
    for child in node.children:
        _count(child)
        node.count += child.count
        node.active += child.active


def _usage(node: _Node, config: TicketConfig) -> float:
    """Combined usage of a node: its user's or project's own for a leaf, the sum below."""
    if node.children:
        node.usage = sum(_usage(child, config) for child in node.children)
        return node.usage
    weights = config.usage_weights
    if node.kind == PROJECT:
        parts = [u for (_, project), u in config.usage.items() if project == node.name]
        node.usage = sum(combined_usage(u, weights) for u in parts)
    else:
        node.usage = combined_usage(config.usage.get((node.name, node.project)), weights)
    return node.usage


def _targets(node: _Node, compensation: float) -> None:
    """Short-term targets (Grid Engine's stt/ostt) of the active children of ``node``: shares
    squared over usage (at least MIN_USAGE times the long-term target), normalised among
    siblings; a child more than ``compensation`` times over its long-term target is pulled
    back to that bound."""
    active = [child for child in node.children if child.count]
    if not active:
        return
    shares = sum(child.shares for child in active)
    shr: dict[int, float] = {}
    for child in active:
        ltt = child.shares / shares if shares else 0.0
        child.oltt = node.oltt * ltt
        shr[id(child)] = (child.shares * child.shares / max(child.usage, MIN_USAGE * child.oltt)
                          if child.oltt > 0 else 0.0)
    total = sum(shr.values())
    for child in active:
        child.stt = shr[id(child)] / total if total else 0.0
        child.ostt = node.ostt * child.stt
    if compensation:
        changed = False
        for child in active:
            if child.ostt > compensation * child.oltt:
                factor = child.ostt / (compensation * child.oltt)
                shr[id(child)] = child.shares * child.shares / (max(child.usage, MIN_USAGE * child.oltt) * factor)
                changed = True
        if changed:
            total = sum(shr.values())
            for child in active:
                child.stt = shr[id(child)] / total if total else 0.0
                child.ostt = node.ostt * child.stt
    for child in active:
        _targets(child, compensation)


def _pending_order(root: _Node, node: _Node, total: float, dependent: bool) -> list[Ref]:
    """Pending refs below ``node`` in the order they would start; each level sorts the refs
    of its subtree and gives the k-th the node's short-term target over its place among the
    node's running and pending jobs (``share``), so the level just below the root decides the
    tickets and the levels beneath the order."""
    direct = [ref for ref in node.refs if ref.pending]
    if node is root and not direct:
        waiting = [child for child in node.children if child.count - child.active > 0]
        if len(waiting) == 1:  # one branch with pending jobs: it is as good as the root
            return _pending_order(waiting[0], waiting[0], total, dependent)
    out = list(direct)
    for child in node.children:
        if child.count - child.active > 0:
            out.extend(_pending_order(root, child, total, dependent))
    if node is not root or direct:
        out.sort(key=lambda ref: (-ref.sort, ref.job_id, ref.index))
        place = node.active
        for ref in out:
            place += 1
            ref.share = node.stt / place
            ref.sort = (ref.tickets if dependent else 0.0) + ref.share * total
    return out


# ---------------------------------------------------------------- priorities


def _npprior(priority: int) -> float:
    """-p (-1023..1024) on [0, 1], as Grid Engine normalises it."""
    return min(1.0, max(0.0, (priority + 1024) / 2048))


class _Scale:
    """The normalisations of one pass: tickets over the most any job has, urgency min-max
    over the pending jobs (all equal: 0.5)."""

    def __init__(self, jobs: Sequence[PendingJob], result: TicketResult) -> None:
        refs = [ref for group in result.pending.values() for ref in group]
        self.top = max((ref.total for ref in [*result.running, *refs]), default=0.0)
        urgencies = [job.urgency for job in jobs if job.job_id in result.pending]
        self.low, self.high = (min(urgencies), max(urgencies)) if urgencies else (0.0, 0.0)
        self.pending_sum = sum(ref.total for ref in refs)
        self.running_sum = sum(ref.total for ref in result.running)

    def ntickets(self, tickets: float) -> float:
        return tickets / self.top if self.top > 0 else 0.5

    def nurg(self, urgency: float) -> float:
        return (urgency - self.low) / (self.high - self.low) if self.high > self.low else 0.5


def priorities(jobs: Sequence[PendingJob], result: TicketResult, config: TicketConfig,
               ) -> tuple[dict[int, JobPriority], dict[tuple[int, int], JobPriority]]:
    """qstat -pri/-ext figures per pending job (its first task) and per running task."""
    scale = _Scale(jobs, result)
    pending: dict[int, JobPriority] = {}
    for job in jobs:
        group = result.pending.get(job.job_id)
        tickets = group[0] if group else None
        total = tickets.total if tickets is not None else 0.0
        ntickets = scale.ntickets(total) if tickets is not None else 0.0
        nurg, npprior = scale.nurg(job.urgency), _npprior(job.priority)
        pending[job.job_id] = JobPriority(
            total, tickets.otickets if tickets else 0.0, tickets.ftickets if tickets else 0.0,
            tickets.stickets if tickets else 0.0,
            total / scale.pending_sum if scale.pending_sum > 0 else 0.0, ntickets, nurg, npprior,
            config.weight_urgency * nurg + config.weight_ticket * ntickets + config.weight_priority * npprior)
    running = {(ref.job_id, ref.index): JobPriority(
        ref.total, ref.otickets, ref.ftickets, ref.stickets,
        ref.total / scale.running_sum if scale.running_sum > 0 else 0.0, scale.ntickets(ref.total))
        for ref in result.running}
    return pending, running


def task_order(jobs: Sequence[PendingJob], result: TicketResult, config: TicketConfig,
               ) -> list[tuple[PendingJob, int, int | None]]:
    """(job, first task position, end position or None for the rest) in the order a pass
    takes them: by the priority of each task, then submission time and job number. Jobs
    without tickets (held, waiting) come by their priority without tickets."""
    scale = _Scale(jobs, result)
    w_tix = config.weight_ticket
    entries: list[tuple[float, float, int, int, int, PendingJob, int | None]] = []
    for n, job in enumerate(jobs):
        base = config.weight_urgency * scale.nurg(job.urgency) + config.weight_priority * _npprior(job.priority)
        group = result.pending.get(job.job_id)
        if not group:
            entries.append((-base, job.submit_time, job.job_id, 0, n, job, None))
            continue
        last = len(group) - 1
        for ref in group:
            prio = base + w_tix * scale.ntickets(ref.total)
            entries.append((-prio, job.submit_time, job.job_id, ref.index, n, job,
                            None if ref.index == last else ref.index + 1))
    entries.sort(key=lambda e: e[:5])
    return [(job, first, end) for _, _, _, first, _, job, end in entries]
