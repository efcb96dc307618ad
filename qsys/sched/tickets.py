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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter

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
    order: int = 0  # pending: ascending in (job, index), so one int sorts refs in job order

    @property
    def total(self) -> float:
        return self.otickets + self.ftickets + self.stickets


ClassKey = tuple[str, str | None, str, int, int]  # user, project, department, -js, -ot


@dataclass(slots=True)
class TicketResult:
    pending: dict[int, list[Ref]] = field(default_factory=dict)  # job -> its task refs in order
    running: list[Ref] = field(default_factory=list)
    # pending refs of the same owners and job shares, in job order: the policies work out
    # per class what they can, so their cost grows with the classes more than with the jobs
    classes: dict[ClassKey, list[Ref]] = field(default_factory=dict)
    by_submission: list[PendingJob] = field(default_factory=list)  # all jobs, by submission time


# ---------------------------------------------------------------- building the refs


def make_refs(jobs: Iterable[PendingJob], running: Iterable[RunningJob], config: TicketConfig) -> TicketResult:
    result = TicketResult()
    for run in running:
        result.running.append(Ref(run.job_id, run.task_id, False, run.owner, run.project,
                                  run.department or DEFAULT_DEPARTMENT, run.job_share, run.override_tickets))
    limit = max(1, config.max_pending_tasks_per_job)
    pending, classes = result.pending, result.classes
    result.by_submission = sorted(jobs, key=_SUBMISSION)
    for job in result.by_submission:
        if job.held or job.waiting_on or not job.task_ids:
            continue
        dept = job.department or DEFAULT_DEPARTMENT
        key = (job.owner, job.project, dept, job.job_share, job.override_tickets)
        group = classes.get(key)
        if group is None:
            group = classes[key] = []
        job_id = job.job_id  # (the class key is the Ref's owner fields, in their order)
        if len(job.task_ids) == 1 or limit == 1:  # (all fields given in order: a faster call)
            ref = Ref(job_id, 0, True, key[0], key[1], key[2], key[3], key[4], None, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                      job_id * limit)
            pending[job_id] = [ref]
            group.append(ref)
            continue
        refs = pending[job_id] = [Ref(job_id, k, True, *key, order=job_id * limit + k)
                                  for k in range(min(len(job.task_ids), limit))]
        group.extend(refs)
    return result


_SUBMISSION = attrgetter("submit_time", "job_id")
_TICKETS = attrgetter("tickets")
_ORDER = attrgetter("order")
_SORT = attrgetter("sort")


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
    for letter, dependent in _hierarchy(config.policy_hierarchy):
        if letter == "O":
            _override(result.running, result.classes, config, dependent)
        elif letter == "F" and config.weight_tickets_functional > 0:
            _functional(result.running, result.classes, config, dependent)
        elif letter == "S" and config.weight_tickets_share > 0 and config.share_tree is not None:
            _share_tree(result.running, result.classes, config, dependent)
    return result


# ---------------------------------------------------------------- override tickets


Owners = tuple[tuple[int, str, int], ...]  # (0 user | 1 project | 2 department, name, value)


def _owners_of(config: TicketConfig, value: Callable[[ObjectShares], int]) -> Callable[[Ref], Owners]:
    """A function from a ref to the objects (user, project, department) that give it a
    non-zero ``value`` (fshare or oticket), computed once per combination."""
    tables = (config.users, config.projects, config.departments)
    cache: dict[tuple[str, str | None, str], Owners] = {}

    def owners(ref: Ref) -> Owners:
        key = (ref.user, ref.project, ref.department)
        found = cache.get(key)
        if found is None:
            out = []
            for kind, (table, name) in enumerate(zip(tables, key, strict=True)):
                entry = table.get(name) if name is not None else None
                if entry is not None and value(entry) > 0 and name is not None:
                    out.append((kind, name, value(entry)))
            found = cache[key] = tuple(out)
        return found

    return owners


Classes = dict[ClassKey, list[Ref]]


def _override(running: list[Ref], classes: Classes, config: TicketConfig, dependent: bool) -> None:
    owners = _owners_of(config, lambda entry: entry.oticket)

    if not config.share_override_tickets:
        for refs in (running, *classes.values()):
            for ref in refs:
                ref.otickets = sum(t for _, _, t in owners(ref)) + ref.job_otickets
                ref.tickets += ref.otickets
        return
    counts: dict[tuple[int, str], int] = {}
    for ref in running:
        for kind, name, _ in owners(ref):
            counts[(kind, name)] = counts.get((kind, name), 0) + 1
    for ref in running:
        ref.otickets = sum(t / counts[(k, n)] for k, n, t in owners(ref)) + ref.job_otickets
        ref.tickets += ref.otickets

    def value(ref: Ref, own: Owners) -> float:
        return sum(t / (counts.get((k, n), 0) + 1) for k, n, t in own) + ref.job_otickets

    def category(refs: list[Ref]) -> tuple[object, ...] | None:
        own = owners(refs[0])
        return (tuple((k, n) for k, n, _ in own), refs[0].job_otickets) if own or refs[0].job_otickets else None

    categories = _categories(classes, category, dependent)
    own_of = {key: owners(group[0]) for key, group in categories.items()}

    def current(key: tuple[object, ...]) -> float:
        ref = categories[key][-1]
        return value(ref, own_of[key]) + (ref.tickets if dependent else 0.0)

    for key, ref in _greedy(categories, current, math.inf):
        ref.otickets = value(ref, own_of[key])
        ref.tickets += ref.otickets
        for kind, name, _ in own_of[key]:
            counts[(kind, name)] = counts.get((kind, name), 0) + 1


# ---------------------------------------------------------------- the greedy ordering


def _categories(classes: Classes, key_of: Callable[[list[Ref]], tuple[object, ...] | None],
                dependent: bool) -> dict[tuple[object, ...], list[Ref]]:
    """The refs of the classes grouped into the policy's categories (``key_of`` a class's
    refs; None leaves them out), each group in the order its jobs are taken (by the tickets
    of the policies before, if dependent, then job and task number), stored reversed so
    that ``group[-1]`` is the next one."""
    merged: dict[tuple[object, ...], list[list[Ref]]] = {}
    for refs in classes.values():
        key = key_of(refs)
        if key is not None:
            merged.setdefault(key, []).append(refs)
    groups: dict[tuple[object, ...], list[Ref]] = {}
    for key, parts in merged.items():
        if dependent:  # by (-tickets, job, task), in two stable sorts on plain attributes
            group = [ref for part in parts for ref in part]
            group.sort(key=_ORDER)
            group.sort(key=_TICKETS, reverse=True)
        elif len(parts) == 1:
            group = list(parts[0])
        else:  # each part in submission order (job order, unless submission times disagree)
            group = list(heapq.merge(*parts, key=_ORDER))
        group.reverse()
        groups[key] = group
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
    replace = heapq.heapreplace
    taken = 0
    while heap and taken < limit:
        stored = heap[0]
        key = stored[4]
        value = -current(key)
        if value != stored[0]:  # (an entry's job is always its category's next one)
            replace(heap, (value, stored[1], stored[2], stored[3], key))
            continue
        group = categories[key]
        ref = group.pop()
        taken += 1
        yield key, ref
        if group:
            replace(heap, (-current(key), group[-1].job_id, group[-1].index, stored[3], key))
        else:
            heapq.heappop(heap)


# ---------------------------------------------------------------- functional tickets


def _functional(running: list[Ref], classes: Classes, config: TicketConfig, dependent: bool) -> None:
    total = config.weight_tickets_functional
    raw = (config.weight_user, config.weight_project, config.weight_department, config.weight_job)
    wsum = sum(raw)
    w_user, w_project, w_dept, w_job = (w / wsum for w in raw) if wsum > 0 else (0.0,) * 4
    weights = (w_user, w_project, w_dept)
    shared = config.share_functional_shares
    owners = _owners_of(config, lambda entry: entry.fshare)

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
        ref.tickets += tickets

    def category(refs: list[Ref]) -> tuple[object, ...] | None:
        own = owners(refs[0])
        return (own, refs[0].job_share) if own or refs[0].job_share else None

    categories = _categories(classes, category, dependent)
    own_of: dict[tuple[object, ...], Owners] = {key: owners(group[0]) for key, group in categories.items()}
    state = {"job_sum": job_sum}

    # per category: (kind, counts key, fshare, weight) of each owner (the greedy asks often)
    terms = {key: tuple((kind, (kind, name), fshare, weights[kind]) for kind, name, fshare in own)
             for key, own in own_of.items()}

    def current(key: tuple[object, ...], before: bool = dependent) -> float:
        """Tickets the category's next job would get if it ran next (Grid Engine's estimate,
        sums padded by 0.001), plus with ``before`` the tickets of the policies before it
        (adding 0.0 changes no sum of these non-negative terms). One call per look: the
        greedy looks about 200 times per take."""
        ref = categories[key][-1]
        tickets = 0.0
        if shared:
            for kind, counted, fshare, weight in terms[key]:
                tickets += weight * (fshare / (counts_get(counted, 0) + 1)) * total / (sums[kind] + _EPSILON)
        else:
            for kind, _, fshare, weight in terms[key]:
                tickets += weight * fshare * total / (sums[kind] + _EPSILON + fshare)
        job_share = ref.job_share
        if job_share:
            tickets += w_job * job_share * total / (state["job_sum"] + _EPSILON + job_share)
        return tickets + (ref.tickets if before else 0.0)

    counts_get = counts.get

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
        ref.tickets += tickets
    for key, queue in categories.items():  # beyond max_functional_jobs_to_schedule
        if queue:
            guess = last[key] if key in last else current(key, False)
            for ref in queue:
                ref.ftickets = guess
                ref.tickets += guess


# ---------------------------------------------------------------- share-tree tickets


class _Node:
    __slots__ = ("name", "shares", "kind", "children", "refs", "running", "count", "active", "usage",
                 "stt", "ostt", "oltt", "project")

    def __init__(self, name: str, shares: int, kind: int, project: str | None) -> None:
        self.name, self.shares, self.kind, self.project = name, shares, kind, project
        self.children: list[_Node] = []
        self.refs: list[Ref] = []  # its running refs, then its pending ones
        self.running = self.count = self.active = 0
        self.usage = self.stt = self.ostt = self.oltt = 0.0


class _Tree:
    """A working copy of the share tree for one computation."""

    def __init__(self, root: ShareNode) -> None:
        self.users: dict[str, _Node] = {}  # user nodes outside any project
        self.defaults: list[_Node] = []  # "default" nodes outside any project
        self.projects: dict[str, _Node] = {}
        self.parent: dict[int, _Node] = {}
        self.temp: dict[tuple[int, str], _Node] = {}
        self.found: dict[tuple[str, str | None], _Node | None] = {}
        self.leaves: dict[int, dict[str, _Node]] = {}  # project node -> its leaves by name
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
        key = (user, project)
        if key not in self.found:
            self.found[key] = self._node_for(user, project)
        return self.found[key]

    def _node_for(self, user: str, project: str | None) -> _Node | None:
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
        """The first leaf named ``name`` below ``node`` (depth first, a node before what is
        below it); the leaves of a project's subtree are indexed by name once, on first asking,
        before any user node is added for a ``default`` (those are found by their own key)."""
        index = self.leaves.get(id(node))
        if index is None:
            index = self.leaves[id(node)] = {}
            stack = list(reversed(node.children))
            while stack:
                child = stack.pop()
                if child.children:
                    stack.extend(reversed(child.children))
                else:
                    index.setdefault(child.name, child)
        return index.get(name)

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


def _share_tree(running: list[Ref], classes: Classes, config: TicketConfig, dependent: bool) -> None:
    assert config.share_tree is not None
    total = config.weight_tickets_share
    tree = _Tree(config.share_tree)
    for ref in running:
        ref.node = tree.node_for(ref.user, ref.project)
        if ref.node is not None:
            ref.node.refs.append(ref)
            ref.node.running += 1
    mixed: set[int] = set()  # nodes whose pending refs come from several classes
    for (user, project, *_), refs in classes.items():
        node = tree.node_for(user, project)
        if node is None:
            continue
        if len(node.refs) > node.running:
            mixed.add(id(node))
        node.refs.extend(refs)
    _count(tree.root)
    _usage(tree.root, config)
    tree.root.stt = tree.root.ostt = tree.root.oltt = 1.0
    _targets(tree.root, config.compensation_factor)
    shares_sum: dict[int, int] = {}
    for ref in running:
        if ref.node is not None:
            shares_sum[id(ref.node)] = shares_sum.get(id(ref.node), 0) + ref.job_share
    for ref in running:
        node = ref.node
        if node is None or not node.count:
            continue
        share = node.ostt * total
        js_sum = shares_sum[id(node)]
        ref.stickets = ref.job_share * share / js_sum if js_sum else share / node.count
        ref.tickets += ref.stickets
    for refs in classes.values():
        if dependent:
            for ref in refs:
                ref.sort = ref.tickets + 0.01 * ref.job_share
        else:
            value = float(refs[0].job_share)
            for ref in refs:
                ref.sort = value
    _pending_order(tree.root, tree.root, total, dependent, mixed)  # (it hands out their tickets)


def _count(node: _Node) -> None:
    node.count = len(node.refs)
    node.active = node.running
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


def _pending_order(root: _Node, node: _Node, total: float, dependent: bool, mixed: set[int],
                   final: bool = False) -> list[Ref]:
    """Pending refs below ``node`` in the order they would start; each level sorts the refs
    of its subtree and gives the k-th the node's short-term target over its place among the
    node's running and pending jobs (``share``), so the level just below the root decides the
    tickets and the levels beneath the order. The level that decides (``final``) also hands
    out the tickets: one walk over the refs less."""
    direct = node.refs[node.running:]
    if node is root and not direct:
        waiting = [child for child in node.children if child.count - child.active > 0]
        if len(waiting) == 1:  # one branch with pending jobs: it is as good as the root
            return _pending_order(waiting[0], waiting[0], total, dependent, mixed)
    own = bool(direct)
    out = direct
    merged = False
    # below a root without jobs of its own, each child's level is the last to set the shares
    children_final = node is root and not own
    for child in node.children:
        if child.count - child.active > 0:
            out.extend(_pending_order(root, child, total, dependent, mixed, children_final))
            merged = True
    if node is not root or own:
        # one class's refs come in job order: of one sort value they need no sorting
        if merged or id(node) in mixed or len({ref.sort for ref in out}) > 1:
            _sort_pending(out)
        place = node.active
        stt = node.stt
        final = final or node is root
        for ref in out:
            place += 1
            share = ref.share = stt / place
            tickets = share * total
            ref.sort = (ref.tickets if dependent else 0.0) + tickets
            if final:
                ref.stickets = tickets
                ref.tickets += tickets
    return out


def _sort_pending(refs: list[Ref]) -> None:
    """By (-sort, job, task): two stable sorts on plain attributes (much faster than one on
    a tuple made per ref)."""
    refs.sort(key=_ORDER)
    refs.sort(key=_SORT, reverse=True)


# ---------------------------------------------------------------- priorities


class Priorities(Mapping[int, JobPriority]):
    """Job -> :class:`JobPriority`, made when asked for (a pass needs only the order)."""

    def __init__(self, jobs: Sequence[PendingJob], result: TicketResult, scale: tuple[float, float, float, float],
                 config: TicketConfig) -> None:
        self._given = list(jobs)  # (a copy: cheap, and the jobs as they were in the pass)
        self._by_id: dict[int, PendingJob] | None = None  # made when first asked (a pass never asks)
        self._result = result
        self._top, self._low, self._span, self._sum = scale
        self._config = config

    @property
    def _jobs(self) -> dict[int, PendingJob]:
        if self._by_id is None:
            self._by_id = {job.job_id: job for job in self._given}
        return self._by_id

    def __getitem__(self, job_id: int) -> JobPriority:
        job = self._jobs[job_id]
        config = self._config
        nurg = (job.urgency - self._low) / self._span if self._span > 0 else 0.5
        npprior = min(1.0, max(0.0, (job.priority + 1024) / 2048))
        base = config.weight_urgency * nurg + config.weight_priority * npprior
        group = self._result.pending.get(job_id)
        if not group:
            return JobPriority(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, nurg, npprior, base)
        first = group[0]
        ntickets = first.tickets / self._top if self._top > 0 else 0.5
        return JobPriority(first.tickets, first.otickets, first.ftickets, first.stickets,
                           first.tickets / self._sum if self._sum > 0 else 0.0, ntickets, nurg, npprior,
                           base + config.weight_ticket * ntickets)

    def __iter__(self) -> Iterator[int]:
        return iter(self._jobs)

    def __len__(self) -> int:
        return len(self._jobs)


@dataclass(slots=True)
class Ranking:
    """What a pass needs of the tickets: the figures qstat shows and the order of tasks."""

    pending: Mapping[int, JobPriority]  # per job (its first task)
    running: dict[tuple[int, int], JobPriority] = field(default_factory=dict)  # per (job, task)
    # (job, first task position, end position or None for the rest), highest priority first
    order: list[tuple[PendingJob, int, int | None]] = field(default_factory=list)


def rank(jobs: Sequence[PendingJob], result: TicketResult, config: TicketConfig) -> Ranking:
    """Priorities as sched_conf(5) weighs them: ``weight_urgency * nurg + weight_ticket *
    ntckts + weight_priority * npprior``, with tickets over the most any job holds, urgency
    min-max over the pending jobs (all equal: 0.5) and -p on [0, 1]. Every task with its own
    tickets takes its own turn; jobs without tickets (held, waiting) come by the rest."""
    pending_refs = result.pending
    pending_tickets = list(map(_TICKETS, chain.from_iterable(pending_refs.values())))  # (one walk for both)
    top = max(chain(map(_TICKETS, result.running), pending_tickets), default=0.0)
    urgencies = [job.urgency for job in jobs if job.job_id in pending_refs]
    low, high = (min(urgencies), max(urgencies)) if urgencies else (0.0, 0.0)
    span = high - low
    pending_sum = sum(pending_tickets)
    out = Ranking(Priorities(jobs, result, (top, low, span, pending_sum), config))
    w_tix, w_urg, w_pri = config.weight_ticket, config.weight_urgency, config.weight_priority
    per_ticket = w_tix / top if top > 0 else 0.0
    no_tickets = 0.0 if top > 0 else w_tix * 0.5
    # highest priority first, then by submission, job and task: a stable sort of the
    # priorities alone, made in the order of submission, job and task
    keys: list[float] = []
    refs_of: list[tuple[PendingJob, int, int | None]] = []
    key, take = keys.append, refs_of.append
    get = pending_refs.get
    for job in result.by_submission:
        npprior = (job.priority + 1024) / 2048  # min(1, max(0, ...)) without two calls per job
        npprior = 0.0 if not npprior > 0.0 else (npprior if npprior < 1.0 else 1.0)
        base = w_urg * ((job.urgency - low) / span if span > 0 else 0.5) + w_pri * npprior
        group = get(job.job_id)
        if not group:
            key(-base)
            take((job, 0, None))
        elif len(group) == 1:
            key(-(base + no_tickets + per_ticket * group[0].tickets))
            take((job, 0, None))
        else:
            end = len(group) - 1
            for ref in group:
                key(-(base + no_tickets + per_ticket * ref.tickets))
                take((job, ref.index, None if ref.index == end else ref.index + 1))
    out.order = [refs_of[n] for n in sorted(range(len(keys)), key=keys.__getitem__)]
    running_sum = sum(ref.tickets for ref in result.running)
    for ref in result.running:
        out.running[(ref.job_id, ref.index)] = JobPriority(
            ref.tickets, ref.otickets, ref.ftickets, ref.stickets,
            ref.tickets / running_sum if running_sum > 0 else 0.0, ref.tickets / top if top > 0 else 0.5)
    return out
