"""Cluster queue (``qconf -sq``): every attribute but the name and host list may differ per
host or host group (``slots 1,[node1=4],[@big=8]``); see :func:`qsys.objects.base.value_for`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qsys.objects.base import ConfigObject, attr
from qsys.objects.layout import KeyValueLayout
from qsys.objects.values import (
    Bool,
    Choice,
    Duration,
    Int,
    Memory,
    MemoryValue,
    NameValues,
    NoneText,
    Text,
    TimeValue,
    WordList,
)

QTYPES = Choice("BATCH", "INTERACTIVE", "CHECKPOINTING", "PARALLEL", "TRANSFER")
SHELL_START_MODES = Choice("posix_compliant", "unix_behavior", "script_from_stdin")

_T, _M = TimeValue(), MemoryValue()
_INF_T = Duration.parse("INFINITY")
_INF_M = Memory.parse("INFINITY")


def _words(*items: str) -> Any:
    return lambda: list(items)


def _host_attr(vtype: Any, default: Any = None, *, factory: Any = None) -> Any:
    if factory is not None:
        return attr(vtype, factory=factory, per_host=True)
    return attr(vtype, default, per_host=True)


@dataclass
class Queue(ConfigObject):
    """A cluster queue; its instances are (queue, host) for each host of ``hostlist``."""

    kind = "queue"
    key = "qname"
    layout = KeyValueLayout(width=22)

    qname: str = attr(Text())
    hostlist: list[str] = attr(WordList(), factory=list)
    seq_no: int = _host_attr(Int(), 0)
    load_thresholds: dict[str, str] = _host_attr(NameValues(), factory=dict)
    suspend_thresholds: dict[str, str] = _host_attr(NameValues(), factory=dict)
    nsuspend: int = _host_attr(Int(), 1)
    suspend_interval: Duration = _host_attr(_T, Duration.parse("00:05:00"))
    priority: int = _host_attr(Int(-20, 20), 0)
    min_cpu_interval: Duration = _host_attr(_T, Duration.parse("00:05:00"))
    processors: str = _host_attr(Text(), "UNDEFINED")
    qtype: list[str] = _host_attr(WordList(item=QTYPES), factory=_words("BATCH", "INTERACTIVE"))
    ckpt_list: list[str] = _host_attr(WordList(), factory=list)
    pe_list: list[str] = _host_attr(WordList(), factory=_words("make", "smp", "mpi"))
    rerun: bool = _host_attr(Bool(), False)
    slots: int = _host_attr(Int(), 1)
    tmpdir: str = _host_attr(Text(), "/tmp")
    shell: str = _host_attr(Text(), "/bin/sh")
    prolog: str | None = _host_attr(NoneText())
    epilog: str | None = _host_attr(NoneText())
    shell_start_mode: str = _host_attr(SHELL_START_MODES, "posix_compliant")
    starter_method: str | None = _host_attr(NoneText())
    suspend_method: str | None = _host_attr(NoneText())
    resume_method: str | None = _host_attr(NoneText())
    terminate_method: str | None = _host_attr(NoneText())
    notify: Duration = _host_attr(_T, Duration.parse("00:00:60"))
    owner_list: list[str] = _host_attr(WordList(), factory=list)
    user_lists: list[str] = _host_attr(WordList(), factory=list)
    xuser_lists: list[str] = _host_attr(WordList(), factory=list)
    subordinate_list: str | None = _host_attr(NoneText())
    complex_values: dict[str, str] = _host_attr(NameValues(), factory=dict)
    projects: list[str] = _host_attr(WordList(), factory=list)
    xprojects: list[str] = _host_attr(WordList(), factory=list)
    calendar: str | None = _host_attr(NoneText())
    initial_state: str = _host_attr(Choice("default", "enabled", "disabled"), "default")
    s_rt: Duration = _host_attr(_T, _INF_T)
    h_rt: Duration = _host_attr(_T, _INF_T)
    s_cpu: Duration = _host_attr(_T, _INF_T)
    h_cpu: Duration = _host_attr(_T, _INF_T)
    s_fsize: Memory = _host_attr(_M, _INF_M)
    h_fsize: Memory = _host_attr(_M, _INF_M)
    s_data: Memory = _host_attr(_M, _INF_M)
    h_data: Memory = _host_attr(_M, _INF_M)
    s_stack: Memory = _host_attr(_M, _INF_M)
    h_stack: Memory = _host_attr(_M, _INF_M)
    s_core: Memory = _host_attr(_M, _INF_M)
    h_core: Memory = _host_attr(_M, _INF_M)
    s_rss: Memory = _host_attr(_M, _INF_M)
    h_rss: Memory = _host_attr(_M, _INF_M)
    s_vmem: Memory = _host_attr(_M, _INF_M)
    h_vmem: Memory = _host_attr(_M, _INF_M)
    # attribute -> {host or @group -> value}, the [..=..] parts of the text
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def check(self) -> None:
        if not self.qname or any(c in self.qname for c in " \t,@[]=/"):
            raise ValueError(f"qname: '{self.qname}' is not a valid queue name")
        for host in self.hostlist:
            if host.upper() == "NONE":
                raise ValueError("hostlist: NONE among other hosts")


def default_queue(name: str = "all.q", hostlist: str | list[str] = "@allhosts", slots: int = 1) -> Queue:
    """The queue a new cell gets (all.q over every exec host, like Grid Engine's install)."""
    hosts = hostlist.split() if isinstance(hostlist, str) else list(hostlist)
    return Queue(qname=name, hostlist=hosts, slots=slots)
