"""References between configuration objects: a queue names PEs, user sets, a calendar and
host groups; a host group names other groups. An object may only name what exists, and
what is named may not be deleted -- so the master never holds a dangling name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from qsys.errors import InvalidRequest

if TYPE_CHECKING:
    from qsys.master.config import ClusterConfig

# attribute -> the kind its names refer to, for each kind that refers to others
_PROJECTS = {"projects": "project", "xprojects": "project"}
_REFS: dict[str, dict[str, str]] = {
    "queue": {"pe_list": "pe", "user_lists": "userset", "xuser_lists": "userset", "calendar": "calendar",
              "hostlist": "hostgroup", "ckpt_list": "ckpt", **_PROJECTS},
    "pe": {"user_lists": "userset", "xuser_lists": "userset"},
    "exechost": {"user_lists": "userset", "xuser_lists": "userset", **_PROJECTS},
    "conf": {"user_lists": "userset", "xuser_lists": "userset", **_PROJECTS},
    "hostgroup": {"hostlist": "hostgroup"},
    "project": {"acl": "userset", "xacl": "userset"},
}
LABEL = {"pe": "parallel environment", "userset": "userset", "calendar": "calendar",
         "hostgroup": "host group", "queue": "cluster queue", "exechost": "exechost",
         "conf": "configuration", "project": "project", "ckpt": "checkpointing interface"}
# how Grid Engine names an object that refers to a project ("... in xprojects of queue "q"")
_OWNER_WORD = {"queue": "queue", "exechost": "host", "conf": "configuration"}


def _values(obj: Any, attr: str) -> Iterator[str]:
    """Names an attribute holds (its default and its per-host overrides)."""
    overrides = getattr(obj, "overrides", None) or {}
    for value in (getattr(obj, attr, None), *overrides.get(attr, {}).values()):
        if value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            if attr != "hostlist" or item.startswith("@"):
                yield item


def _override_groups(obj: Any) -> Iterator[str]:
    for table in (getattr(obj, "overrides", None) or {}).values():
        yield from (key for key in table if key.startswith("@"))


def check_refs(config: ClusterConfig, kind: str, obj: Any) -> None:
    """Refuse an object that names a PE, user set, calendar or host group that does not exist."""
    name = obj.object_name
    if kind == "hostgroup":
        groups = dict(config.hostgroups)
        groups[name] = obj
        nested = [g for g in obj.hostlist if g.startswith("@")]
        if _reaches(groups, nested, name):
            raise InvalidRequest(f'host group "{name}" would contain itself')
    for attr, target in _REFS.get(kind, {}).items():
        known = config.table(target)
        for item in _values(obj, attr):
            if item == "@allhosts" and target == "hostgroup":
                continue
            if item not in known:
                raise InvalidRequest(f'{LABEL[target]} "{item}" named in "{attr}" of {LABEL[kind]} '
                                     f'"{name}" does not exist')
    for table in [getattr(obj, "complex_values", None) or {},
                  *(getattr(obj, "overrides", None) or {}).get("complex_values", {}).values()]:
        for cname in table:
            if config.resolve_complex(cname) is None:
                raise InvalidRequest(f'complex "{cname}" named in "complex_values" of {LABEL[kind]} '
                                     f'"{name}" does not exist')
    for group in _override_groups(obj):
        if group not in config.hostgroups and group != "@allhosts":
            raise InvalidRequest(f'host group "{group}" named in an override of {LABEL[kind]} '
                                 f'"{name}" does not exist')


def _reaches(groups: dict[str, Any], start: list[str], target: str) -> bool:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        group = todo.pop()
        if group == target:
            return True
        if group in seen or group not in groups:
            continue
        seen.add(group)
        todo.extend(g for g in groups[group].hostlist if g.startswith("@"))
    return False


def referrers(config: ClusterConfig, kind: str, name: str) -> list[str]:
    """What names ``name`` of ``kind`` ("cluster queue "all.q"", ...), so it stays."""
    out = []
    for owner_kind, attrs in _REFS.items():
        for owner in config.table(owner_kind).values():
            for attr, target in attrs.items():
                if target == kind and name in set(_values(owner, attr)):
                    out.append(f'{LABEL[owner_kind]} "{owner.object_name}"')
                    break
            else:
                if kind == "hostgroup" and name in set(_override_groups(owner)):
                    out.append(f'{LABEL[owner_kind]} "{owner.object_name}"')
    return out


def _referring(config: ClusterConfig, kind: str, name: str) -> tuple[str, str, str] | None:
    """The first (owner kind, owner name, attribute) that names ``name`` of ``kind``."""
    for owner_kind, attrs in _REFS.items():
        for owner in config.table(owner_kind).values():
            for attr, target in attrs.items():
                if target == kind and name in set(_values(owner, attr)):
                    return owner_kind, owner.object_name, attr
    return None


def reference_denial(config: ClusterConfig, kind: str, name: str, label: str) -> str | None:
    """Why ``name`` of ``kind`` may not be deleted while named (Grid Engine's words for
    projects and checkpointing interfaces), None when nothing names it."""
    if kind in ("project", "ckpt"):
        found = _referring(config, kind, name)
        if found is None:
            return None
        owner_kind, owner, attr = found
        if kind == "ckpt":
            return f'denied: Ckpt "{name}" is still referenced in queue "{owner}".'
        return f'denied: project "{name}" is still referenced in {attr} of {_OWNER_WORD[owner_kind]} "{owner}"'
    users = referrers(config, kind, name)
    return f'denied: {label} "{name}" is still referenced in {users[0]}' if users else None


def complex_users(config: ClusterConfig, name: str) -> list[str]:
    """Queues and exec hosts whose complex_values name the complex ``name``."""
    out = []
    for kind in ("queue", "exechost"):
        for owner in config.table(kind).values():
            tables = [owner.complex_values, *(getattr(owner, "overrides", None) or {}).get("complex_values", {}).values()]
            if any(name in table for table in tables):
                out.append(f'{LABEL[kind]} "{owner.object_name}"')
    return out
