"""The one path of every configuration object: show, list, add, modify, delete, attribute
edits -- each change validated, stored, applied to memory and announced (exec hosts get
their new configuration at once; the scheduler runs a pass).

Kinds come from :data:`qsys.objects.KINDS` (text formats, validation) plus four name lists
(managers, operators, admin and submit hosts). Only ``show``/``list``/``template`` are open
to everyone; every change needs a manager on an admin host (:mod:`qsys.master.roles`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qsys import protocol
from qsys.errors import InvalidRequest, NotFound
from qsys.master.attrs import edit_attribute, purge_override
from qsys.master.config import GLOBAL_HOST, NAME_LISTS, SHARE_TREE
from qsys.master.exechosts import forget_link, leaving
from qsys.master.hostview import exechost_view
from qsys.master.identity import Identity
from qsys.master.policy_objects import NO_QUOTA_SET, NO_TREE, OPERATIONS, checked
from qsys.master.refs import check_refs, complex_users, reference_denial
from qsys.master.roles import require_manager
from qsys.objects import (
    ComplexList,
    format_text,
    from_wire,
    keep_readonly,
    kind_class,
    parse_text,
    to_wire,
    validate,
)
from qsys.store import DeleteObject, PutObject

if TYPE_CHECKING:
    from qsys.master.core import HostLink, Master


@dataclass(frozen=True)
class Kind:
    label: str  # in "added "x" to <label> list"
    missing: str  # show/modify/delete of an unknown name ({name})
    empty: str  # a list with no member
    # where Grid Engine words these otherwise than ``missing`` and ``label``
    missing_modify: str = ""  # -M* of an unknown name (and -mattr... when it says so)
    missing_delete: str = ""  # -d* of an unknown name (and -mattr/-rattr/-aattr/-dattr)
    removed_label: str = ""  # in "removed "x" from <label> list"


KIND_INFO: dict[str, Kind] = {
    "conf": Kind("configuration", "configuration {name} not defined", "no config defined"),
    "queue": Kind("cluster queue", 'No cluster queue or queue instance matches the phrase "{name}"',
                  "no cqueue list defined", missing_delete='denied: cluster queue "{name}" does not exist'),
    "exechost": Kind("exechost", "{name} is not an execution host", "no execution host defined"),
    "hostgroup": Kind("host group", 'Host group "{name}" does not exist', "no host group list defined",
                      missing_delete='denied: host group "{name}" does not exist'),
    "pe": Kind("parallel environment", "{name} is not a parallel environment", "no parallel environment defined",
               missing_delete='denied: parallel environment "{name}" does not exist'),
    "userset": Kind("userset", 'denied: access list "{name}" does not exist', "no userset list defined",
                    missing_delete='denied: userset "{name}" does not exist'),
    "calendar": Kind("calendar", "{name} is not a calendar", "no calendar defined",
                     missing_delete='denied: calendar "{name}" does not exist'),
    "manager": Kind("manager", 'manager "{name}" does not exist', "no manager defined"),
    "operator": Kind("operator", 'operator "{name}" does not exist', "no operator defined"),
    "adminhost": Kind("administrative host", 'adminhost "{name}" does not exist', "no admin host defined"),
    "submithost": Kind("submit host", 'submithost "{name}" does not exist', "no submit host defined"),
    "complex": Kind("complex entry", "complex {name} does not exist", "no complex defined"),
    "sconf": Kind("scheduler configuration", "no scheduler configuration", "no scheduler configuration"),
    "project": Kind("project", "{name} is not known as a project", "no project list defined",
                    missing_delete='denied: project "{name}" does not exist'),
    "user": Kind("user", "{name} is not known as a user", "no user list defined",
                 missing_delete='denied: user "{name}" does not exist'),
    "rqs": Kind("resource quota set", NO_QUOTA_SET, "no resource quota set list defined",
                missing_modify='denied: resource quota set "{name}" does not exist',
                missing_delete='denied: resource quota set "{name}" does not exist'),
    SHARE_TREE: Kind("sharetree", NO_TREE, NO_TREE),
    "ckpt": Kind("checkpoint interface", "{name} is not a checkpointing interface definition",
                 "no ckpt interface definition defined",
                 missing_modify='denied: checkpoint interface "{name}" does not exist',
                 missing_delete='denied: checkpointing environment "{name}" does not exist',
                 removed_label="checkpointing environment"),
}
SINGLE = ("complex", "sconf")  # one object per cluster


def _info(kind: str) -> Kind:
    info = KIND_INFO.get(kind)
    if info is None:
        raise InvalidRequest(f"unknown object kind '{kind}'")
    return info


def _utf8(text: str) -> str:
    """Configuration is UTF-8 text: a byte that is not (carried as a surrogate) is refused."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    for number, line in enumerate(text.split("\n"), 1):
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequest(f"line {number}: not UTF-8 text") from None
    return text


def _by(who: Identity) -> str:
    return f"{who.user}@{who.host}"


def _result(lines: list[str], failed: bool = False) -> protocol.Lines:
    return protocol.Lines(lines, 1 if failed else 0)


Reply = protocol.Lines | protocol.ConfText | protocol.Names
Op = Callable[["ConfRequests", Identity, protocol.ConfRequest], Awaitable[Reply]]
_READ_ONLY = ("show", "list", "template")


class ConfRequests:
    """``qconf``'s requests on every kind of configuration object."""

    def __init__(self, state: Master, link: HostLink,
                 removed: Callable[[str, str], Awaitable[None]] | None = None) -> None:
        self.state = state
        self.link = link
        self.removed = removed  # told of every deleted object (a deleted host's secret is revoked)

    async def conf_request(self, who: Identity, msg: protocol.ConfRequest) -> Reply:
        # the policies' kinds first (qsys.master.policy_objects): some of their operations,
        # the share tree's node edits, have no generic form
        op = OPERATIONS.get((msg.op, msg.kind)) or self._OPS.get(msg.op)
        if op is None:
            raise InvalidRequest(f"unknown configuration operation '{msg.op}'")
        if msg.op not in _READ_ONLY:
            require_manager(self.state, who)
        return await op(self, who, msg)

    def _existing(self, kind: str, name: str) -> Any:
        obj = self.state.config.get(kind, name)
        if obj is None:
            raise NotFound(_info(kind).missing.format(name=name))
        return obj

    # ------------------------------------------------------------ reading

    async def _show(self, who: Identity, msg: protocol.ConfRequest) -> protocol.ConfText:
        kind = msg.kind
        if kind in NAME_LISTS:
            raise InvalidRequest(f"a {kind} list is listed, not shown")
        name = msg.name or ("global" if kind == "conf" else "")
        obj = self._existing(kind, name)
        if kind == "exechost":
            obj = exechost_view(self.state, obj)
        return protocol.ConfText(format_text(obj), to_wire(obj))

    async def _list(self, who: Identity, msg: protocol.ConfRequest) -> protocol.Names:
        kind = msg.kind
        _info(kind)
        config = self.state.config
        if kind in NAME_LISTS:
            names = sorted(config.names(kind))
        elif kind == "conf":
            names = sorted(config.local_conf)
        elif kind in SINGLE:
            raise InvalidRequest(f"a {kind} is shown, not listed")
        else:
            names = sorted(n for n in config.table(kind) if not (kind == "exechost" and n == GLOBAL_HOST))
        if not names:
            raise NotFound(KIND_INFO[kind].empty)
        return protocol.Names(names)

    async def _template(self, who: Identity, msg: protocol.ConfRequest) -> protocol.ConfText:
        """The text ``qconf -a*`` opens in the editor: a new object of that name."""
        kind, name = msg.kind, msg.name
        if kind in NAME_LISTS or kind in SINGLE:
            raise InvalidRequest(f"no template for {kind}")
        if self.state.config.get(kind, name) is not None:
            raise InvalidRequest(f'{_info(kind).label} "{name}" already exists')
        cls = kind_class(kind)
        obj = cls(**{cls.key: name}) if cls.key else cls()
        return protocol.ConfText(format_text(obj), to_wire(obj))

    # ------------------------------------------------------------ changing

    def _parse(self, kind: str, name: str, text: str) -> Any:
        """The object a text describes, validated against its kind and the other objects."""
        obj: Any = parse_text(kind_class(kind), _utf8(text))
        if kind == "conf":
            obj.name = name or obj.name
        self._check(kind, obj)
        return checked(self.state.config, kind, obj)

    def _check(self, kind: str, obj: Any) -> None:
        validate(obj)
        check_refs(self.state.config, kind, obj)

    # what the policies' operations use (qsys.master.policy_objects)
    utf8 = staticmethod(_utf8)
    by = staticmethod(_by)

    def check(self, kind: str, obj: Any) -> None:
        self._check(kind, obj)

    def parse(self, kind: str, name: str, text: str) -> Any:
        return self._parse(kind, name, text)

    async def store(self, kind: str, name: str, obj: Any, *, delete: bool = False) -> None:
        await self._store(kind, name, obj, delete=delete)

    async def _store(self, kind: str, name: str, obj: Any, *, delete: bool = False) -> None:
        """Durable first, then memory, then tell whoever the change concerns."""
        if delete:
            await self.state.commit([DeleteObject(kind, name)])
            self.state.config.remove(kind, name)
            if self.removed is not None:
                await self.removed(kind, name)
        else:
            record = {"attrs": {} if kind in NAME_LISTS else to_wire(obj)}
            await self.state.commit([PutObject(kind, name, record)])
            self.state.config.put(kind, name, obj)
        self._notify(kind, name)

    def _notify(self, kind: str, name: str) -> None:
        if kind == "conf":
            hosts = list(self.state.hosts) if name == "global" else [name]
            candidates = self.state.master_candidates()  # the bootstrap read once, not per host
            for host in hosts:
                self.link.send(host, self.state.host_config_message(host, candidates))
        self.state.schedule_soon()

    async def _add(self, who: Identity, msg: protocol.ConfRequest) -> protocol.Lines:
        kind = msg.kind
        info = _info(kind)
        if kind in NAME_LISTS:
            return await self._add_names(who, kind, msg.name)
        if kind in SINGLE:
            raise InvalidRequest(f"the {info.label} cannot be added, only modified")
        obj = self._parse(kind, msg.name, msg.text)
        name = obj.object_name
        if self.state.config.get(kind, name) is not None:
            raise InvalidRequest(f'{info.label} "{name}" already exists')
        if kind == "exechost":  # load values are reported by the host, never taken from a file
            obj = keep_readonly(obj, from_wire(kind, {}, name))
            await self.state.config.apply_edits(self.state, self.state.config.joining(name, obj))
            self._notify(kind, name)
        else:
            await self._store(kind, name, obj)
        return _result([f'{_by(who)} added "{name}" to {info.label} list'])

    async def _add_names(self, who: Identity, kind: str, names: str) -> protocol.Lines:
        info = KIND_INFO[kind]
        lines, failed = [], False
        for name in [n for n in names.replace(",", " ").split() if n]:
            if self.state.config.get(kind, name) is not None:
                lines.append(f'{kind} "{name}" already exists')
                failed = True
                continue
            await self._store(kind, name, None)
            if kind in ("adminhost", "submithost"):
                lines.append(f"{name} added to {info.label} list")
            else:
                lines.append(f'{_by(who)} added "{name}" to {info.label} list')
        return _result(lines, failed)

    async def _modify(self, who: Identity, msg: protocol.ConfRequest) -> protocol.Lines:
        kind = msg.kind
        info = _info(kind)
        if kind in NAME_LISTS:
            raise InvalidRequest(f"a {kind} is added or deleted, not modified")
        if kind == "complex":
            return await self._modify_complexes(who, msg.text)
        obj = self._parse(kind, msg.name, msg.text)
        name = obj.object_name  # a configuration's comes from the host argument or its #host: line
        old = self.state.config.get(kind, name)
        if old is None and kind != "conf":
            raise NotFound((info.missing_modify or info.missing).format(name=name))
        if kind == "exechost":
            obj = keep_readonly(obj, old)
        await self._store(kind, name, obj)
        if kind == "sconf":
            return _result([f"{_by(who)} modified scheduler configuration"])
        verb = "added" if old is None else "modified"
        where = "to" if old is None else "in"
        return _result([f'{_by(who)} {verb} "{name}" {where} {info.label} list'])

    async def _modify_complexes(self, who: Identity, text: str) -> protocol.Lines:
        """``qconf -mc/-Mc``: the whole table at once; one line per added, changed, removed row."""
        new = parse_text(ComplexList, _utf8(text))
        validate(new)
        old = {row.name: row for row in self.state.config.complex_list.complexes}
        rows = {row.name: row for row in new.complexes}
        lines = []
        for name in rows:
            if name not in old:
                lines.append(f'{_by(who)} added "{name}" to complex entry list')
            elif rows[name] != old[name]:
                lines.append(f'{_by(who)} modified "{name}" in complex entry list')
        for name in old:
            if name not in rows:
                users = complex_users(self.state.config, name)
                if users:
                    raise InvalidRequest(f'denied: complex "{name}" is still referenced in {users[0]}')
                lines.append(f'{_by(who)} removed "{name}" from complex entry list')
        if not lines:
            return _result(["complex entry list not modified"])
        await self._store("complex", "complex", new)
        return _result(lines)

    async def _delete(self, who: Identity, msg: protocol.ConfRequest) -> protocol.Lines:
        kind = msg.kind
        info = _info(kind)
        if kind in SINGLE:
            raise InvalidRequest(f"the {info.label} cannot be deleted")
        lines, failed = [], False
        for name in [n for n in msg.name.replace(",", " ").split() if n]:
            try:
                self._may_delete(kind, name)
                if kind == "exechost":
                    await self.state.config.apply_edits(self.state, leaving(self.state, name))
                    forget_link(self.state, name)
                    self._notify(kind, name)
                    if self.removed is not None:
                        await self.removed(kind, name)  # its secret is revoked
                else:
                    await self._store(kind, name, None, delete=True)
            except (InvalidRequest, NotFound) as exc:
                lines.append(exc.message)
                failed = True
                continue
            if kind in ("adminhost", "submithost"):
                lines.append(f"{name} removed from {info.label} list")
            else:
                lines.append(f'{_by(who)} removed "{name}" from {info.removed_label or info.label} list')
        return _result(lines, failed)

    def _may_delete(self, kind: str, name: str) -> None:
        info = _info(kind)
        if info.missing_delete and self.state.config.get(kind, name) is None:
            raise NotFound(info.missing_delete.format(name=name))
        self._existing(kind, name)
        if kind == "manager" and name == "root":
            raise InvalidRequest('denied: the manager "root" cannot be removed')
        if kind == "conf" and name == "global":
            raise InvalidRequest("denied: the global configuration cannot be deleted")
        if kind == "exechost" and name == GLOBAL_HOST:
            raise InvalidRequest('denied: the exechost "global" cannot be deleted')
        if kind == "queue":
            for job in self.state.jobs.values():
                for task in job.tasks.values():
                    if any(a.queue == name for a in task.assignments):
                        raise InvalidRequest(f'denied: {KIND_INFO[kind].label} "{name}" has running jobs')
        if kind == "ckpt":
            for job_id in sorted(self.state.jobs):
                if self.state.jobs[job_id].spec.checkpoint == name:
                    raise InvalidRequest(f'denied: Checkpointing object "{name}" is still referenced in job {job_id}.')
        denial = reference_denial(self.state.config, kind, name, KIND_INFO[kind].label)
        if denial:
            raise InvalidRequest(denial)

    async def _attr(self, who: Identity, msg: protocol.ConfRequest) -> protocol.Lines:
        """-mattr/-rattr/-aattr/-dattr on one or more objects (``queue@host`` sets an override)."""
        kind = msg.kind
        info = _info(kind)
        edit = msg.attrs or protocol.AttrEdit()
        if kind in NAME_LISTS or kind in SINGLE:
            raise InvalidRequest(f"-{edit.mode} does not apply to {kind}")
        lines, failed = [], False
        for target in edit.objects:
            name, _, host = target.partition("@") if kind == "queue" else (target, "", "")
            old = self.state.config.get(kind, name)
            if old is None:
                lines.append(f'error: Cluster queue entry "{name}" does not exist' if edit.mode == "purge"
                             else (info.missing_modify or info.missing_delete or info.missing).format(name=name))
                failed = True
                continue
            if edit.mode == "purge":
                if not host:
                    lines.append(f'error: Given object_instance "{target}" is incomplete')
                    failed = True
                    continue
                new = purge_override(old, edit.attr, host)
                if new is None:
                    lines.append(f'Attribute name ("{edit.attr}") and/or value ("{host}") not found')
                    continue
            else:
                notes: list[str] = []
                new = edit_attribute(old, edit.mode, edit.attr, edit.value, host, notes)
                lines.extend(notes)
            self._check(kind, new)
            new = checked(self.state.config, kind, new)
            if kind == "exechost":
                new = keep_readonly(new, old)
            await self._store(kind, name, new)
            lines.append(f'{_by(who)} modified "{name}" in {info.label} list')
        return _result(lines, failed)

    _OPS: dict[str, Op] = {"show": _show, "list": _list, "template": _template, "add": _add,
                           "modify": _modify, "delete": _delete, "attr": _attr}
