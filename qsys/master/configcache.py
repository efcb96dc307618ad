"""Values worked out from the configuration, kept until it changes.

Every scheduling pass and every start of a task read the same attributes of the same queue
instances and hosts, and parse the same texts (limits, thresholds, list attributes); with
1,000 hosts that was a third of a pass's own time, for a configuration that changes a few
times a day. What is derived here lives in ``ClusterConfig.derived``, which every change of
the configuration empties (``ClusterConfig._changed``). The values handed out are shared
between passes: callers read them, never change them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from qsys.master.config import LIMITS, split_list

if TYPE_CHECKING:
    from collections.abc import Callable

    from qsys.master.config import ClusterConfig

T = TypeVar("T")


def derived(config: ClusterConfig, key: tuple[Any, ...], make: Callable[[], T]) -> T:
    """``make()``, computed once per configuration (``key`` names what it is)."""
    found = config.derived.get(key)
    if found is None:
        found = config.derived[key] = make()
    return found


@dataclass(slots=True, frozen=True)
class InstanceConf:
    """What a pass reads of one queue instance's configuration (``queue@host``)."""

    seq_no: int
    qtype: frozenset[str]  # BATCH, INTERACTIVE
    pe_list: list[str]
    complex_values: dict[str, str]  # its complex_values and its limits (h_rt ...)
    ckpt_list: list[str]
    projects: list[str]
    xprojects: list[str]
    user_lists: str
    xuser_lists: str
    load_thresholds: list[tuple[str, str]]  # name, threshold
    suspend_thresholds: list[tuple[str, str]]
    calendar: str  # "" for none
    subordinates: list[tuple[str, str]]  # subordinate_list: queue, slots ("" for all)


def instance_conf(config: ClusterConfig, queue: str, host: str) -> InstanceConf:
    return derived(config, ("instance", queue, host), lambda: _instance_conf(config, queue, host))


def _instance_conf(config: ClusterConfig, queue: str, host: str) -> InstanceConf:
    def attr(name: str) -> str:
        return config.queue_attr(queue, name, host)

    qtype = set()
    if "BATCH" in attr("qtype").upper():
        qtype.add("BATCH")
    if "INTERACTIVE" in attr("qtype").upper():
        qtype.add("INTERACTIVE")
    cvalues = {name: value for name, sep, value in (item.partition("=") for item in split_list(attr("complex_values")))
               if sep}
    for limit in LIMITS:
        cvalues[limit] = attr(limit)
    calendar = attr("calendar")
    return InstanceConf(
        seq_no=int(attr("seq_no") or 0),
        qtype=frozenset(qtype),
        pe_list=split_list(attr("pe_list")),
        complex_values=cvalues,
        ckpt_list=split_list(attr("ckpt_list")),
        projects=split_list(attr("projects")),
        xprojects=split_list(attr("xprojects")),
        user_lists=attr("user_lists"),
        xuser_lists=attr("xuser_lists"),
        load_thresholds=pairs(attr("load_thresholds")),
        suspend_thresholds=pairs(attr("suspend_thresholds")),
        calendar="" if not calendar or calendar.upper() == "NONE" else calendar,
        subordinates=pairs(attr("subordinate_list")),
    )


def pairs(text: str | None) -> list[tuple[str, str]]:
    """The ``name=value`` items of a list attribute (value "" for a bare name)."""
    out = []
    for item in split_list(text):
        name, sep, value = item.partition("=")
        out.append((name, value if sep else ""))
    return out


@dataclass(slots=True, frozen=True)
class LaunchConf:
    """What a start order takes from the granted queue instance and its host's configuration."""

    limits: dict[str, float | None]  # the queue's limits, parsed (None: INFINITY)
    tmpdir: str
    shell: str
    shell_start_mode: str
    login_shells: list[str]  # a fresh copy for each launch: see launch_conf
    prolog: str
    epilog: str
    min_cpu_interval: float


def launch_conf(config: ClusterConfig, queue: str, host: str) -> LaunchConf:
    return derived(config, ("launch", queue, host), lambda: _launch_conf(config, queue, host))


def _launch_conf(config: ClusterConfig, queue: str, host: str) -> LaunchConf:
    from qsys.sched.values import parse_time

    def attr(name: str) -> str:
        return config.queue_attr(queue, name, host)

    host_conf = config.host_config(host)
    return LaunchConf(
        limits={name: limit_value(name, attr(name)) for name in LIMITS},
        tmpdir=attr("tmpdir"),
        shell=attr("shell"),
        shell_start_mode=none_empty(attr("shell_start_mode")) or host_conf.get("shell_start_mode", "posix_compliant"),
        login_shells=split_list(host_conf.get("login_shells", "")),
        prolog=none_empty(attr("prolog")) or none_empty(host_conf.get("prolog", "")),
        epilog=none_empty(attr("epilog")) or none_empty(host_conf.get("epilog", "")),
        min_cpu_interval=parse_time(attr("min_cpu_interval") or "00:05:00"),
    )


@lru_cache(maxsize=4096)
def limit_value(name: str, text: str | None) -> float | None:
    """A limit's text (a queue's or a job's -l) in seconds or bytes; None for none or INFINITY.
    Kept per text: the jobs of a cell ask for a few hundred different ones."""
    from qsys.sched.values import parse_memory, parse_time

    if not text or text.upper() == "INFINITY":
        return None
    return (parse_time if name.endswith(("_rt", "_cpu")) else parse_memory)(text)


def none_empty(text: str) -> str:
    """"" for an unset attribute (NONE)."""
    return "" if not text or text.upper() == "NONE" else text


@dataclass(slots=True, frozen=True)
class Consumable:
    """A job's -l item as it consumes: its complex's name, how (YES, JOB) and the amount."""

    name: str
    per_job: bool  # consumable JOB: once for the job, not per slot
    amount: float


def consumables(config: ClusterConfig, resources: dict[str, str]) -> list[Consumable]:
    """The consumable items of a job's hard resources (the others left out)."""
    key = ("consumables", *resources.items())
    return derived(config, key, lambda: _consumables(config, resources))


def _consumables(config: ClusterConfig, resources: dict[str, str]) -> list[Consumable]:
    from qsys.sched.values import parse_value

    out = []
    for name, text in resources.items():
        cdef = config.resolve_complex(name)
        if cdef is None or cdef.consumable == "NO":
            continue
        try:
            amount = float(parse_value(cdef.type, text))
        except Exception:
            continue
        out.append(Consumable(cdef.name, cdef.consumable == "JOB", amount))
    return out
