"""Configuration objects: dataclasses with their Grid Engine text format.

``KINDS`` maps each kind's name (as qconf and the store call it) to its class, so one generic
path (parse, validate, store, show) serves them all.
"""

from __future__ import annotations

from qsys.errors import InvalidRequest
from qsys.objects.base import (
    Attr,
    ConfigObject,
    attr,
    format_text,
    from_wire,
    keep_readonly,
    parse_text,
    specs,
    to_wire,
    validate,
    value_for,
)
from qsys.objects.calendar import Calendar
from qsys.objects.checkpoint import Checkpoint
from qsys.objects.complex import DEFAULT_COMPLEXES, ComplexDef, ComplexList, default_complexes
from qsys.objects.conf import Conf, default_global_config, effective_config
from qsys.objects.exechost import ExecHost
from qsys.objects.hostgroup import HostGroup, groups_of, resolve_hosts
from qsys.objects.pe import ParallelEnvironment, default_pes
from qsys.objects.project import Project
from qsys.objects.queue import Queue, default_queue
from qsys.objects.quota import ResourceQuotaSet, parse_quota_sets
from qsys.objects.sconf import SchedulerConfig, default_scheduler_config
from qsys.objects.sharetree import ShareNode, ShareTree
from qsys.objects.user import User
from qsys.objects.userset import UserSet, default_usersets, department_of
from qsys.objects.values import Duration, Memory

KINDS: dict[str, type[ConfigObject]] = {
    cls.kind: cls
    for cls in (Conf, Queue, ExecHost, HostGroup, ParallelEnvironment, ComplexList, UserSet,
                SchedulerConfig, Calendar, Project, Checkpoint, ShareTree, ResourceQuotaSet, User)
}


def kind_class(kind: str) -> type[ConfigObject]:
    """The class of a kind name; unknown kinds are an :class:`InvalidRequest`."""
    try:
        return KINDS[kind]
    except KeyError:
        raise InvalidRequest(f"unknown object kind '{kind}'") from None


def default_objects(slots: int = 1, hostlist: str = "@allhosts") -> list[ConfigObject]:
    """Everything a new cell starts with (global configuration, all.q, PEs, complexes,
    user sets, scheduler configuration)."""
    return [default_global_config(), default_queue(slots=slots, hostlist=hostlist), *default_pes(),
            default_complexes(), *default_usersets(), default_scheduler_config()]


__all__ = [
    "DEFAULT_COMPLEXES", "KINDS", "Attr", "Calendar", "Checkpoint", "ComplexDef", "ComplexList",
    "Conf", "ConfigObject", "Duration", "ExecHost", "HostGroup", "Memory", "ParallelEnvironment",
    "Project", "Queue", "ResourceQuotaSet", "SchedulerConfig", "ShareNode", "ShareTree", "User", "UserSet",
    "attr", "default_complexes", "default_global_config", "default_objects", "default_pes",
    "default_queue", "default_scheduler_config", "default_usersets", "department_of",
    "effective_config", "format_text", "from_wire", "groups_of", "keep_readonly", "kind_class",
    "parse_quota_sets", "parse_text", "resolve_hosts", "specs", "to_wire", "validate", "value_for",
]
