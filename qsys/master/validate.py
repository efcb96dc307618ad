"""Checks on a submission before it is accepted: a bad request changes nothing.

Messages follow Grid Engine's (qsub prints them after "Unable to run job: ").
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from qsys.errors import InvalidRequest, PermissionDenied
from qsys.grammar.names import account_problem, job_name_problem
from qsys.jobspec import JobSpec

if TYPE_CHECKING:
    from qsys.master.core import Master
    from qsys.master.identity import Identity

MAX_ARRAY_TASKS = 75000  # max_aj_tasks when the global configuration does not say


def _queue_pattern_known(pattern: str, queues: list[str], hosts: set[str]) -> bool:
    qpart, _, hpart = pattern.partition("@")
    qpart = qpart or "*"
    if not any(fnmatch.fnmatchcase(q, qpart) for q in queues):
        return False
    if hpart and not hpart.startswith("@") and not any(fnmatch.fnmatchcase(h, hpart) for h in hosts):
        return False
    return True


def validate_spec(master: Master, who: Identity, spec: JobSpec) -> None:
    from qsys.master.roles import require_submit_host
    from qsys.sched.values import parse_value

    require_submit_host(master, who)
    config = master.config
    if spec.ar_id is not None:
        from qsys.master.advance import check_job

        check_job(master, who, spec)
    problem = job_name_problem(spec.name) or (account_problem(spec.account) if spec.account else None)
    if problem is not None:  # the rule qsub applies, for what comes through the protocol directly
        raise InvalidRequest(problem)
    if spec.job_type == "batch" and not spec.binary and spec.script is None:
        raise InvalidRequest("job rejected: no script")
    if not -1023 <= spec.priority <= 1024:
        raise InvalidRequest(f"job rejected: priority {spec.priority} is not in -1023..1024")
    if spec.priority > 0 and not who.privileged:
        raise PermissionDenied("job rejected: positive submission priority requires operator privileges")
    if spec.tasks is not None:
        t = spec.tasks
        if t.first < 1 or t.last < t.first or t.step < 1:
            raise InvalidRequest(f'job rejected: invalid task range "{t}"')
        limit = config.global_conf.max_aj_tasks
        limit = MAX_ARRAY_TASKS if limit is None else limit  # 0: no limit, as the man page says
        if limit and len(t) > limit:
            raise InvalidRequest(f"job rejected: {len(t)} tasks exceed max_aj_tasks {limit}")
    patterns = [*spec.hard_queues, *spec.soft_queues, *spec.master_queues]
    queues = config.queue_names() if patterns else []
    hosts = set(config.all_exec_hosts(master.hosts)) if patterns else set()  # ~0.1 ms at 1,000 hosts
    for pattern in patterns:
        if not _queue_pattern_known(pattern, queues, hosts):
            raise InvalidRequest(f'Job was rejected because job requests unknown queue "{pattern}"')
    for name, value in [*spec.hard_resources.items(), *spec.soft_resources.items()]:
        cdef = config.resolve_complex(name)
        if cdef is None:
            raise InvalidRequest(f'unknown resource "{name}"')
        if cdef.name == "slots":  # a job's slots come from its PE (-pe), as in Grid Engine
            raise InvalidRequest('"job" denied: use parallel environments instead of requesting slots explicitly')
        if not cdef.requestable:
            raise InvalidRequest(f'resource "{name}" is not requestable')
        if cdef.type not in ("STRING", "CSTRING", "RESTRING", "HOST"):
            parse_value(cdef.type, value)
    if spec.pe is not None:
        if not any(fnmatch.fnmatchcase(pe, spec.pe.name) for pe in config.pe_names()):
            raise InvalidRequest(
                f'job rejected: the requested parallel environment "{spec.pe.name}" does not exist'
            )
        if spec.pe.min_slots < 1 or spec.pe.max_slots < spec.pe.min_slots:
            raise InvalidRequest(f'job rejected: invalid slot range "{spec.pe}"')
    _check_project(master, who, spec)
    _check_checkpointing(master, spec)
    if spec.hold_jids_ad:
        _check_array_dependencies(master, who, spec)


def _check_project(master: Master, who: Identity, spec: JobSpec) -> None:
    """-P names a project that exists, admits the user and the global configuration allows
    (its projects/xprojects and enforce_project), with Grid Engine's messages."""
    from qsys.master.access import unix_groups

    config = master.config
    glob = config.global_conf
    allowed, excluded = glob.projects or [], glob.xprojects or []
    if spec.project is None:
        if glob.enforce_project:
            raise InvalidRequest("job rejected: no project assigned to job")
        if allowed:
            raise InvalidRequest("job rejected: no project was supplied and only certain projects are allowed "
                                 "to submit jobs")
        return
    project = config.projects.get(spec.project)
    if project is None:
        raise InvalidRequest(f'job rejected: the requested project "{spec.project}" does not exist')
    if not project.admits(who.user, unix_groups(who.user), config.usersets):
        raise InvalidRequest(f'job rejected: no access to project "{spec.project}" for user "{who.user}"')
    if spec.project in excluded or (allowed and spec.project not in allowed):
        raise InvalidRequest(f'job rejected: project "{spec.project}" is not allowed to submit jobs')


def _check_checkpointing(master: Master, spec: JobSpec) -> None:
    """-ckpt names an interface that exists; -c needs one (unless it says n), and with one it
    may not say n (Grid Engine's rules and messages)."""
    when = spec.checkpoint_when or ""
    if spec.checkpoint is None:
        if spec.checkpoint_interval or (when and when != "n" and set(when) != {"n"}):
            raise InvalidRequest("checkpointing denied")
        return
    if spec.checkpoint not in master.config.ckpts:
        raise InvalidRequest(f'job rejected: the requested checkpointing environment "{spec.checkpoint}" '
                             "does not exist")
    if "n" in when:
        raise InvalidRequest('job rejected: checkpointing with "-c n" requested')


AD_ARRAY_ONLY = 'Can only specify "-hold_jid_ad" option with an array job (using "-t" option)'
AD_SAME_RANGE = ("This array job must have the same range of sub-tasks as the dependent array job specified "
                 "with -hold_jid_ad")


def _check_array_dependencies(master: Master, who: Identity, spec: JobSpec) -> None:
    """-hold_jid_ad: an array job waiting for array jobs of its first and last task (Grid
    Engine compares those two, not the step: 1-3:2 may wait for 1-3:1; a task without a
    counterpart waits for none)."""
    from qsys.master.submit import resolve_predecessors

    if spec.tasks is None:
        raise InvalidRequest(AD_ARRAY_ONLY)
    for job_id in sorted(resolve_predecessors(master, who, spec.hold_jids_ad)):
        other = master.jobs[job_id].spec.tasks
        if other is None:
            raise InvalidRequest(AD_ARRAY_ONLY)
        if (other.first, other.last) != (spec.tasks.first, spec.tasks.last):
            raise InvalidRequest(AD_SAME_RANGE)
