"""The configuration the master holds: global and host-local configuration, queues, PEs,
complexes, managers/operators -- and the lookups that answer in Grid Engine's text
(effective host configuration, a queue attribute on a host, the queue instances).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from qsys.errors import InvalidRequest
from qsys.objects import (
    Calendar,
    Checkpoint,
    ComplexList,
    Conf,
    HostGroup,
    ParallelEnvironment,
    Project,
    Queue,
    ResourceQuotaSet,
    SchedulerConfig,
    ShareTree,
    User,
    UserSet,
    default_complexes,
    default_global_config,
    default_pes,
    default_queue,
    default_scheduler_config,
    default_usersets,
    effective_config,
    from_wire,
    groups_of,
    resolve_hosts,
    to_wire,
    value_for,
)
from qsys.objects import ExecHost as ExecHostConf
from qsys.objects.base import spec_map

if TYPE_CHECKING:
    from qsys.master.core import ExecHost, Master

LIMITS = ("h_rt", "s_rt", "h_cpu", "s_cpu", "h_vmem", "s_vmem")
# kinds held as plain name lists (``qconf -am/-ao/-ah/-as``)
NAME_LISTS = ("manager", "operator", "adminhost", "submithost")
GLOBAL_HOST = "global"  # the exec host whose complex_values hold cluster-wide resources
SHARE_TREE = "sharetree"  # one per cluster, or none
# the configuration kinds held here (the store's objects table also keeps other parts' records)
HELD_KINDS = ("conf", "queue", "exechost", "hostgroup", "pe", "complex", "userset", "sconf", "calendar",
              "project", "ckpt", "user", "rqs", "sharetree")
REMOVED_HOST = "exechost_removed"  # the store's mark of an exec host qconf -de removed
ALLHOSTS = "@allhosts"  # the host group of every exec host (see qsys.master.exechosts)
Edit = tuple[str, str, Any]  # (kind, name, the object to store, or None to delete it)
_DEFAULT_QUEUE = default_queue()
# the global configuration of a new cell, attribute -> text
DEFAULT_GLOBAL: dict[str, str] = effective_config(default_global_config())

log = logging.getLogger("qsys.master.config")


@dataclass(slots=True, frozen=True)
class QueueInstance:
    queue: str
    host: str
    qtype: str  # "BIP"
    slots: int
    states: str


def split_list(text: str | None) -> list[str]:
    """A list attribute's words (comma or blank separated); NONE is empty."""
    if not text or text.strip().upper() == "NONE":
        return []
    return [item for item in text.replace(",", " ").split() if item]


class ClusterConfig:
    """Every configuration object of the cell, as :mod:`qsys.objects` instances.

    :mod:`qsys.master.objects` changes them (validate, store, :meth:`put`/:meth:`remove`,
    notify); everything else reads them through the lookups below, which answer in the
    Grid Engine text of a value so callers need not know the classes.
    """

    def __init__(self) -> None:
        self.global_conf: Conf = default_global_config()
        self.local_conf: dict[str, Conf] = {}
        self.queues: dict[str, Queue] = {}
        self.pes: dict[str, ParallelEnvironment] = {}
        self.exec_hosts: dict[str, ExecHostConf] = {}
        self.hostgroups: dict[str, HostGroup] = {}
        self.usersets: dict[str, UserSet] = {u.name: u for u in default_usersets()}
        self.calendars: dict[str, Calendar] = {}
        self.projects: dict[str, Project] = {}
        # the policies' objects (qsys.master.policy_inputs reads them for the scheduler)
        self.users: dict[str, User] = {}
        self.quota_sets: dict[str, ResourceQuotaSet] = {}  # in the order they were added
        self.share_tree: ShareTree | None = None
        self.ckpts: dict[str, Checkpoint] = {}
        self.removed_hosts: set[str] = set()  # exec hosts qconf -de removed (their daemons are refused)
        self.complex_list: ComplexList = default_complexes()
        self.sconf: SchedulerConfig = default_scheduler_config()
        self.managers: set[str] = {"root"}
        self.operators: set[str] = set()
        self.admin_hosts: set[str] = set()
        self.submit_hosts: set[str] = set()
        self._complexes: dict[str, Any] | None = None
        self._groups_of: dict[str, list[str]] = {}
        self._attr_cache: dict[tuple[str, str, str], str] = {}
        self._host_configs: dict[str, dict[str, str]] = {}
        self._instances: tuple[frozenset[str], list[QueueInstance]] | None = None
        self.derived: dict[tuple[Any, ...], Any] = {}  # see qsys.master.configcache
        self.mode = "personal"  # told to every exec host as execd_mode
        self.generation = 0  # counts changes (what is derived from the configuration is kept until it moves)

    # ------------------------------------------------------------ the generic table

    def table(self, kind: str) -> dict[str, Any]:
        """The objects of a keyed kind by name (conf: "global" and the hosts)."""
        if kind == "conf":
            return {"global": self.global_conf, **self.local_conf}
        tables: dict[str, dict[str, Any]] = {
            "queue": self.queues, "pe": self.pes, "exechost": self.exec_hosts,
            "hostgroup": self.hostgroups, "userset": self.usersets, "calendar": self.calendars,
            "project": self.projects, "ckpt": self.ckpts, "user": self.users, "rqs": self.quota_sets}
        return tables[kind]

    def names(self, kind: str) -> set[str]:
        """The members of a name-list kind (managers, operators, admin/submit hosts)."""
        return {"manager": self.managers, "operator": self.operators,
                "adminhost": self.admin_hosts, "submithost": self.submit_hosts}[kind]

    def get(self, kind: str, name: str) -> Any:
        """One object (None if absent); the single-object kinds ignore ``name``."""
        if kind == "complex":
            return self.complex_list
        if kind == "sconf":
            return self.sconf
        if kind == SHARE_TREE:
            return self.share_tree
        if kind in NAME_LISTS:
            return name if name in self.names(kind) else None
        return self.table(kind).get(name)

    def put(self, kind: str, name: str, obj: Any) -> None:
        """Hold a new or changed object (already validated and stored)."""
        if kind == "complex":
            self.complex_list = obj
        elif kind == "sconf":
            self.sconf = obj
        elif kind == SHARE_TREE:
            self.share_tree = obj
        elif kind == "conf" and name == "global":
            self.global_conf = obj
        elif kind == "conf":
            self.local_conf[name] = obj
        elif kind in NAME_LISTS:
            self.names(kind).add(name)
        else:
            self.table(kind)[name] = obj
        self._changed()

    def remove(self, kind: str, name: str) -> None:
        if kind in NAME_LISTS:
            self.names(kind).discard(name)
        elif kind == "conf":
            self.local_conf.pop(name, None)
        elif kind == SHARE_TREE:
            self.share_tree = None
        else:
            self.table(kind).pop(name, None)
        self._changed()

    def _changed(self) -> None:
        self.generation += 1  # lets callers cache what they derive from the configuration
        self._complexes = None
        self._groups_of = {}
        self._attr_cache = {}
        self._host_configs = {}
        self._instances = None
        self.derived = {}

    # ------------------------------------------------------------ persistence

    def load(self, objects: dict[tuple[str, str], dict[str, Any]]) -> None:
        for (kind, name), record in objects.items():
            self.restore(kind, name, record)

    def restore(self, kind: str, name: str, record: dict[str, Any] | None) -> None:
        """Hold an object as the store has it (None: the store has none of that name)."""
        if kind == REMOVED_HOST:
            (self.removed_hosts.add if record is not None else self.removed_hosts.discard)(name)
            return
        if kind not in NAME_LISTS and kind not in HELD_KINDS:
            return  # what other parts keep in the store (queue states, finished jobs)
        if record is None:
            defaults = {"complex": default_complexes, "sconf": default_scheduler_config}
            if kind in defaults:
                self.put(kind, name, defaults[kind]())
            elif kind == "conf" and name == "global":
                self.put(kind, name, default_global_config())
            else:
                self.remove(kind, name)
            return
        if kind in NAME_LISTS:
            self.put(kind, name, None)
            return
        try:
            obj = from_wire(kind, dict(record.get("attrs", {})), name)
        except (InvalidRequest, TypeError) as exc:
            log.error("stored %s %r is not valid, ignored: %s", kind, name, exc)
            return
        self.put(kind, name, obj)

    def restorers(self) -> dict[str, Any]:
        """An undo for a refused change of each kind this configuration holds."""
        kinds = (*NAME_LISTS, *HELD_KINDS, REMOVED_HOST)
        return {kind: (lambda name, record, kind=kind: self.restore(kind, name, record)) for kind in kinds}

    async def bootstrap_defaults(self, master: Master) -> None:
        """A new cell gets all.q over every exec host, the default PEs and the master host
        as admin and submit host (as Grid Engine's installation does)."""
        from qsys.store import PutObject

        changes = []
        boot = master.boot

        def keep(kind: str, name: str, obj: Any) -> None:
            self.put(kind, name, obj)
            changes.append(PutObject(kind, name, {"attrs": {} if obj is None else to_wire(obj)}))

        if not self.queues:
            keep("queue", "all.q", default_queue(slots=int(boot.get("default_slots") or os.cpu_count() or 1)))
            for pe in default_pes():
                keep("pe", pe.pe_name, pe)
            conf = self.global_conf
            if master.mode == "personal":
                conf = replace(conf, min_uid=0, min_gid=0)
            keep("conf", "global", conf)
            keep("exechost", GLOBAL_HOST, ExecHostConf(hostname=GLOBAL_HOST))
            if master.mode == "personal":  # the user who ran `qsys up` manages the cell
                keep("manager", _user_name(master.owner_uid), None)
            keep("adminhost", master.host_name, None)
            keep("submithost", master.host_name, None)
            for host in split_list(boot.get("exec_hosts", "")):
                keep("submithost", host, None)
        booted = [h for h in split_list(boot.get("exec_hosts", "")) if h not in self.removed_hosts]
        if ALLHOSTS not in self.hostgroups:  # Grid Engine's installation makes it (older cells get it now)
            members = sorted({*booted, *(h for h in self.exec_hosts if h != GLOBAL_HOST)})
            keep("hostgroup", ALLHOSTS, HostGroup(group_name=ALLHOSTS, hostlist=members))
        await master.commit(changes)
        await self.apply_edits(master, [e for h in booted if h not in self.exec_hosts for e in self.joining(h)])

    def joining(self, host: str, conf: ExecHostConf | None = None) -> list[Edit]:
        """The edits that make ``host`` an exec host: its configuration, its place in
        @allhosts (a host the list does not name yet) and the end of a removal mark."""
        edits: list[Edit] = [("exechost", host, conf or self.exec_hosts.get(host) or ExecHostConf(hostname=host))]
        group = self.hostgroups.get(ALLHOSTS)
        if group is not None and host != GLOBAL_HOST and host not in group.hostlist:
            edits.append(("hostgroup", ALLHOSTS, replace(group, hostlist=[*group.hostlist, host])))
        if host in self.removed_hosts:
            edits.append((REMOVED_HOST, host, None))
        return edits

    async def apply_edits(self, master: Master, edits: list[Edit], also: list[Any] | None = None) -> None:
        """Store objects (``obj`` None: delete them) in one commit, then hold them."""
        from qsys.store import DeleteObject, PutObject

        if not edits and not also:
            return
        changes: list[Any] = list(also or [])
        for kind, name, obj in edits:
            if obj is None:
                changes.append(DeleteObject(kind, name))
            else:
                attrs = {} if kind in NAME_LISTS or kind == REMOVED_HOST else to_wire(obj)
                changes.append(PutObject(kind, name, {"attrs": attrs}))
        await master.commit(changes)
        for kind, name, obj in edits:
            if kind == REMOVED_HOST:
                (self.removed_hosts.add if obj is not None else self.removed_hosts.discard)(name)
            elif obj is None:
                self.remove(kind, name)
            else:
                self.put(kind, name, obj)

    async def ensure_exec_host(self, master: Master, host: str) -> None:
        """A registering exec daemon's host becomes an exec host (and joins @allhosts)."""
        if host not in self.exec_hosts:
            await self.apply_edits(master, self.joining(host))

    # ------------------------------------------------------------ lookups

    def host_config(self, host: str) -> dict[str, str]:
        """A host's effective configuration (a copy: callers may keep or change it), merged
        once until the next configuration change: every start of a task reads it (~0.3 ms)."""
        merged = self._host_configs.get(host)
        if merged is None:
            merged = self._host_configs[host] = effective_config(self.global_conf, self.local_conf.get(host))
        return {**merged, "execd_mode": self.mode}

    def queue_names(self) -> list[str]:
        return sorted(self.queues)

    def pe_names(self) -> list[str]:
        return sorted(self.pes)

    def all_exec_hosts(self, live: dict[str, ExecHost]) -> list[str]:
        return sorted((set(self.exec_hosts) | set(live)) - {GLOBAL_HOST})

    def resolve_hostlist(self, items: list[str], live: dict[str, ExecHost]) -> list[str]:
        """Host names of a host list; @groups expand (nested), an undefined @allhosts is
        every exec host."""
        if ALLHOSTS in items and ALLHOSTS not in self.hostgroups:
            rest = [i for i in items if i != ALLHOSTS]
            return sorted(set(resolve_hosts(rest, self.hostgroups)) | set(self.all_exec_hosts(live)))
        return sorted(set(resolve_hosts(items, self.hostgroups)))

    def groups_of(self, host: str) -> list[str]:
        """The host groups ``host`` belongs to (nested groups included), cached."""
        found = self._groups_of.get(host)
        if found is None:
            found = self._groups_of[host] = groups_of(host, self.hostgroups)
        return found

    def queue_hosts(self, queue: str, live: dict[str, ExecHost]) -> list[str]:
        return self.resolve_hostlist(self.queues[queue].hostlist, live)

    def queue_attr(self, queue: str, attr: str, host: str) -> str:
        """The text of a queue attribute on ``host`` (overrides resolved); memoized until the
        next configuration change, as every scheduling pass asks for it per instance."""
        key = (queue, attr, host)
        found = self._attr_cache.get(key)
        if found is None:
            obj = self.queues.get(queue) or _DEFAULT_QUEUE
            spec = spec_map(Queue).get(attr)
            found = "NONE" if spec is None else spec.attr.vtype.format(
                value_for(obj, attr, host, self.groups_of(host)))
            self._attr_cache[key] = found
        return found

    def queue_instances(self, live: dict[str, ExecHost]) -> list[QueueInstance]:
        """Every queue instance (kept until the configuration or the set of hosts changes:
        each pass asks several times, and 1,000 hosts took ~10 ms to resolve)."""
        hosts = frozenset(live)
        kept = self._instances
        if kept is None or kept[0] != hosts:
            kept = self._instances = (hosts, self._queue_instances(live))
        return list(kept[1])

    def _queue_instances(self, live: dict[str, ExecHost]) -> list[QueueInstance]:
        out = []
        for queue in self.queue_names():
            for host in self.queue_hosts(queue, live):
                qtype = self.queue_attr(queue, "qtype", host).upper()
                code = ("B" if "BATCH" in qtype else "") + ("I" if "INTERACTIVE" in qtype else "")
                if split_list(self.queue_attr(queue, "pe_list", host)):
                    code += "P"
                if split_list(self.queue_attr(queue, "ckpt_list", host)):
                    code += "C"  # Grid Engine's qstat -f shows BIPC for a checkpointing queue
                out.append(QueueInstance(queue, host, code, int(self.queue_attr(queue, "slots", host)), ""))
        return out

    def complexes(self) -> dict[str, Any]:
        if self._complexes is None:
            from qsys.sched.snapshot import complexes_from

            self._complexes = complexes_from(self.complex_list.complexes)
        return self._complexes

    def resolve_complex(self, name: str) -> Any:
        complexes = self.complexes()
        if name in complexes:
            return complexes[name]
        for cdef in complexes.values():
            if cdef.shortcut == name:
                return cdef
        return None

    def global_values(self) -> dict[str, str]:
        host = self.exec_hosts.get(GLOBAL_HOST)
        return dict(host.complex_values) if host is not None else {}

    def sched_value(self, name: str, default: str) -> str:
        wire = self.derived.get(("sconf",))
        if wire is None:
            wire = self.derived[("sconf",)] = to_wire(self.sconf)  # each pass asks, for two values
        return str(wire.get(name, default))


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
