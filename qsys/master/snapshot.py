"""The scheduler's view of the cell: a :class:`qsys.sched.Snapshot` built from the master's
state (jobs, live hosts, configuration) and the queue states.

Built for every scheduling pass (``dispatch.py``) and for ``qalter -w`` (``alter.py``).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Protocol

from qsys import sched
from qsys.master.access import unix_groups, user_admitted
from qsys.master.arraydeps import ready_tasks, waiting_test
from qsys.master.configcache import consumables, derived, instance_conf

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from qsys.master.config import ClusterConfig
    from qsys.master.core import ExecHost, Master
    from qsys.master.jobs import Job


class StateDecorator(Protocol):
    def decorate(self, queue_snaps: list[Any], pe_snaps: dict[str, Any], owners: set[str]) -> None:
        """Put instance states and access denials into the snapshot."""
        ...


def used_slots(jobs: Iterable[Job]) -> Counter[tuple[str, str]]:
    """Slots held per queue instance (queue, host)."""
    used: Counter[tuple[str, str]] = Counter()
    for job in jobs:
        if not job.tasks:
            continue  # most jobs of a long queue: nothing to count
        for task in job.tasks.values():
            for a in task.assignments:
                used[(a.queue, a.host)] += a.slots
    return used


Use = dict[str, float]  # consumable -> amount held


def consumption(config: ClusterConfig, running: Iterable[Job]) -> tuple[dict[tuple[str, str], Use], dict[str, Use],
                                                                        Use, dict[str, int]]:
    """What running tasks hold of consumable resources, per queue instance, host and
    cluster (Grid Engine counts a consumable at every level that defines it); and the slots
    they hold per parallel environment."""
    per_qi: dict[tuple[str, str], Use] = {}
    per_host: dict[str, Use] = {}
    total: Use = {}
    pe_used: dict[str, int] = {}
    for job in running:
        tasks = job.tasks.values()
        for task in tasks:
            if task.pe:
                pe_used[task.pe] = pe_used.get(task.pe, 0) + task.slots
        if not job.spec.hard_resources:
            continue
        for item in consumables(config, job.spec.hard_resources):
            name = item.name
            for task in tasks:
                for index, a in enumerate(task.assignments):
                    if item.per_job and index:
                        continue
                    used = item.amount if item.per_job else item.amount * a.slots
                    for bucket in (per_qi.setdefault((a.queue, a.host), {}), per_host.setdefault(a.host, {}),
                                   total):
                        bucket[name] = bucket.get(name, 0.0) + used
    return per_qi, per_host, total, pe_used


def build_snapshot(state: Master, states: StateDecorator, now: float, immediate: int | None = None) -> sched.Snapshot:
    config = state.config
    hosts = state.hosts
    # no pass can start more tasks of an array than the cell has slots: a job's view holds
    # at most that many of its ids (an array of 1,000,000 tasks is not a list of them), and
    # never fewer than the ticket policy counts (max_pending_tasks_per_job)
    cap = max(sum(qi.slots for qi in config.queue_instances(hosts)) + 1, config.sconf.max_pending_tasks_per_job)
    if state.pending_views_cap != cap:
        state.pending_views.clear()
        state.pending_views_cap = cap
    running: list[Job] = []
    jobs = []
    views = state.pending_views
    owners = set()
    for job in state.jobs.values():  # one walk of a long queue
        if job.tasks:
            running.append(job)
        if not job.pending:
            continue
        owners.add(job.owner)
        if job.spec.now and job.job_id != immediate:
            continue  # an immediate job gets exactly one chance: its own pass
        if job.ad_predecessors:  # which tasks may run changes with the predecessors' tasks
            jobs.append(pending_snapshot(job, len(job.tasks), waiting_test(state, job), cap))
            continue
        view = views.get(job.job_id)
        if view is None:
            view = views[job.job_id] = pending_snapshot(job, len(job.tasks), cap=cap)
        jobs.append(view)
    per_qi, per_host, total, pe_used = consumption(config, running)
    queue_snaps = queue_instance_snapshots(config, hosts, used_slots(running))
    host_snaps = host_snapshots(config, hosts)
    groups: dict[str, list[str]] = {}
    for name, snap in host_snaps.items():
        snap.consumed = per_host.get(name, {})
        snap.denied_owners = host_denials(config, name, owners, groups)
    for qi in queue_snaps:
        qi.consumed = per_qi.get((qi.queue, qi.host), {})
    pe_snaps = pe_snapshots(config, pe_used)
    states.decorate(queue_snaps, pe_snaps, owners)
    return sched.Snapshot(
        now=now,
        complexes=config.complexes(),
        hosts=host_snaps,
        global_values=config.global_values(),
        global_consumed=total,
        queue_instances=queue_snaps,
        pes=pe_snaps,
        jobs=jobs,
        queue_sort_method=config.sched_value("queue_sort_method", "load"),
        load_formula=config.sched_value("load_formula", "np_load_avg"),
    )


def host_snapshots(config: ClusterConfig, live: dict[str, ExecHost]) -> dict[str, sched.HostSnap]:
    out = {}
    for name in config.all_exec_hosts(live):
        host = live.get(name)
        load: dict[str, str] = {}
        if host is not None and host.up:
            load = {k: str(v) for k, v in host.load.items()}
            load.setdefault("arch", host.arch)
            load.setdefault("num_proc", str(host.processors))
        cvalues, projects, xprojects = host_conf(config, name)
        out[name] = sched.HostSnap(name=name, load=load, complex_values=cvalues, consumed={},
                                   projects=projects, xprojects=xprojects)
    return out


def host_conf(config: ClusterConfig, name: str) -> tuple[dict[str, str], list[str], list[str]]:
    """An exec host's complex_values, projects and xprojects (shared: read, never changed)."""
    def make() -> tuple[dict[str, str], list[str], list[str]]:
        conf = config.exec_hosts.get(name)
        if conf is None:
            return {}, [], []
        return dict(conf.complex_values), list(conf.projects), list(conf.xprojects)

    return derived(config, ("exechost", name), make)


def host_denials(config: ClusterConfig, host: str, owners: set[str],
                 groups: dict[str, list[str]]) -> frozenset[str]:
    """The job owners an exec host's user_lists/xuser_lists keep out (``groups``: the owners'
    unix groups, filled as they are needed)."""
    conf = config.exec_hosts.get(host)
    if conf is None or not (conf.user_lists or conf.xuser_lists):
        return frozenset()
    denied = set()
    for owner in owners:
        if owner not in groups:
            groups[owner] = unix_groups(owner)
        if not user_admitted(owner, groups[owner], conf.user_lists, conf.xuser_lists, config.usersets):
            denied.add(owner)
    return frozenset(denied)


def queue_instance_snapshots(config: ClusterConfig, live: dict[str, ExecHost],
                             used: Counter[tuple[str, str]]) -> list[sched.QueueInstanceSnap]:
    """The queue instances' views; their configured parts are the configuration's
    (``configcache``), shared by every pass."""
    out = []
    for qi in config.queue_instances(live):
        host = live.get(qi.host)
        conf = instance_conf(config, qi.queue, qi.host)
        out.append(sched.QueueInstanceSnap(
            queue=qi.queue,
            host=qi.host,
            seq_no=conf.seq_no,
            slots=qi.slots,
            used_slots=used.get((qi.queue, qi.host), 0),
            states=qi.states + ("" if host is not None and host.up else "u"),
            qtype=set(conf.qtype),
            pe_list=conf.pe_list,
            complex_values=conf.complex_values,
            consumed={},
            ckpt_list=conf.ckpt_list,
            projects=conf.projects,
            xprojects=conf.xprojects,
        ))
    return out


def pe_snapshots(config: ClusterConfig, used: dict[str, int]) -> dict[str, sched.PeSnap]:
    """The parallel environments, with the slots running tasks hold in them (``used``)."""
    return {
        name: sched.PeSnap(
            name=name,
            slots=pe.slots,
            used_slots=used.get(name, 0),
            allocation_rule=pe.allocation_rule,
            control_slaves=pe.control_slaves,
            job_is_first_task=pe.job_is_first_task,
        )
        for name, pe in config.pes.items()
    }


def pending_snapshot(job: Job, running: int, waits: Callable[[int], bool] | None = None,
                     cap: int | None = None) -> sched.PendingJob:
    """``waits``: whether a task waits for a -hold_jid_ad predecessor task (those are left out);
    ``cap``: the most task ids to hand the scheduler (more than the cell's slots cannot start)."""
    spec = job.spec
    limit = spec.task_concurrency
    want = len(job.pending) if not limit else max(0, limit - running)
    if cap is not None:
        want = min(want, cap)
    pe = (spec.pe.name, spec.pe.min_slots, spec.pe.max_slots) if spec.pe else None
    task_ids = ready_tasks(job, waits, max(want, 1)) if want else []
    waiting_on = sorted(job.predecessors)
    if waits is not None and not task_ids and want:
        waiting_on = sorted({*waiting_on, *job.ad_predecessors})
    return sched.PendingJob(
        job_id=job.job_id,
        task_ids=task_ids,
        running_tasks=running,
        task_concurrency=limit,
        priority=spec.priority,
        submit_time=job.submit_time,
        owner=job.owner,
        interactive=spec.job_type != "batch",
        hard_resources=dict(spec.hard_resources),
        hard_queues=list(spec.hard_queues),
        master_queues=list(spec.master_queues),
        pe=pe,
        start_time=spec.start_time,
        held=bool(job.holds or job.error),
        waiting_on=waiting_on,
        now=spec.now,
        project=spec.project,
        job_share=spec.job_share,
        override_tickets=spec.override_tickets,
        reserve=spec.reserve,
        ar_id=spec.ar_id,
        checkpoint=spec.checkpoint,
    )
