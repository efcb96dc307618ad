"""``qconf -mattr/-rattr/-aattr/-dattr``: one attribute of an object changed in place.

-mattr sets a value (or, for a name=value list, the named entries), -rattr replaces the
whole value, -aattr adds list items or name=value entries that are not there yet, -dattr
removes them. ``host`` (``all.q@node1``) edits that host's override instead of the default;
a host without one starts from an empty list, not from the default (as in Grid Engine 8.1.9:
``-mattr queue user_lists b all.q@vm`` over ``user_lists a`` gives ``a,[vm=b]``).
As in Grid Engine, ``-mattr`` refuses ``NONE`` for a list (``-rattr ... NONE q@host`` sets the
host's value to none) and ``-purge`` removes a host's override, so the default applies again;
``-mattr`` says when it adds to an empty list or adds an entry it did not find.
"""

from __future__ import annotations

import copy
from typing import Any

from qsys.errors import InvalidRequest
from qsys.objects.base import overrides_of, parse_value, spec_map

MODES = ("mattr", "rattr", "aattr", "dattr")
MATTR_NONE = '"NONE" is not a valid list attribute value for -mattr.  Try using -rattr instead.'


def edit_attribute(obj: Any, mode: str, attr: str, value: str, host: str = "",
                   notes: list[str] | None = None) -> Any:
    """A copy of ``obj`` with the edit applied; the original is left as it was. ``notes``
    receives what Grid Engine's qconf -mattr says on the way (an empty list, a new entry)."""
    if mode not in MODES:
        raise InvalidRequest(f"unknown attribute edit '{mode}'")
    spec = spec_map(type(obj)).get(attr)
    if spec is None or spec.attr.readonly or spec.name == obj.key:
        raise InvalidRequest(f'"{attr}" is not an attribute of {obj.kind} "{obj.object_name}" that can be changed')
    if host and not spec.attr.per_host:
        raise InvalidRequest(f'"{attr}" of {obj.kind} "{obj.object_name}" has no per-host values')
    vtype = spec.attr.vtype
    if spec.attr.per_host and not host and "[" in value and mode in ("mattr", "rattr"):
        return _with_overrides(obj, spec, value)
    current = getattr(obj, attr)
    own = overrides_of(obj, attr) if host else {}
    if host in own:
        current = own[host]
    elif host and isinstance(current, (list, dict)):
        current = type(current)()  # no override of its own: an empty list, not the default
    if mode == "mattr" and value.strip().upper() == "NONE" and isinstance(getattr(obj, attr), (list, dict)):
        raise InvalidRequest(MATTR_NONE)
    try:
        given = vtype.parse(value)
    except ValueError as exc:
        raise InvalidRequest(f"{attr}: {exc}") from None
    if notes is not None and mode == "mattr" and isinstance(current, (list, dict)):
        notes.extend(_mattr_notes(obj, attr, current, given))
    new = _combine(mode, attr, obj.object_name, current, given)
    out = copy.deepcopy(obj)
    if host:
        out.overrides.setdefault(attr, {})[host] = new
    else:
        setattr(out, attr, new)
    return out


def _with_overrides(obj: Any, spec: Any, value: str) -> Any:
    """A whole per-host value (``2,[node1=3]``) replaces the default and all overrides."""
    try:
        default, overrides = parse_value(spec, value)
    except ValueError as exc:
        raise InvalidRequest(f"{spec.name}: {exc}") from None
    out = copy.deepcopy(obj)
    setattr(out, spec.name, default)
    out.overrides.pop(spec.name, None)
    if overrides:
        out.overrides[spec.name] = overrides
    return out


def _mattr_notes(obj: Any, attr: str, current: list[Any] | dict[str, Any], given: Any) -> list[str]:
    """Grid Engine 8.1.9's lines for -mattr on a list (queues and exec hosts: an exec host
    is named "exechost" in them, as SGE does)."""
    if obj.kind not in ("queue", "exechost"):
        return []
    name = "exechost" if obj.kind == "exechost" else obj.object_name
    if not current:
        return [f'"{attr}" of "{name}" is empty - Adding new element(s).']
    return [f'Unable to find "{item}" in "{attr}" of "{name}" - Adding new element.'
            for item in given if item not in current]


def _combine(mode: str, attr: str, name: str, current: Any, given: Any) -> Any:
    if mode == "rattr" or not isinstance(current, (list, dict)):
        if mode in ("aattr", "dattr"):
            raise InvalidRequest(f'-{mode}: "{attr}" is not a list')
        return given
    if isinstance(current, list):
        items = list(current)
        for item in given:
            if mode == "aattr" and item in items:
                raise InvalidRequest(f'"{item}" is already in "{attr}" of "{name}"')
            if mode == "dattr" and item not in items:
                raise InvalidRequest(f'"{item}" is not in "{attr}" of "{name}"')
            if mode == "dattr":
                items.remove(item)
            elif item not in items:
                items.append(item)
        return items
    table = dict(current)
    for key, val in given.items():
        if mode == "aattr" and key in table:
            raise InvalidRequest(f'"{key}" is already in "{attr}" of "{name}"')
        if mode == "dattr":
            if key not in table:
                raise InvalidRequest(f'"{key}" is not in "{attr}" of "{name}"')
            del table[key]
        else:
            table[key] = val
    return table


def purge_override(obj: Any, attrs: str, host: str) -> Any | None:
    """``qconf -purge``: a copy of ``obj`` without ``host``'s values of ``attrs`` (a comma
    list, or ``*`` for all); None when ``host`` has none of them."""
    names = list(obj.overrides) if attrs.strip() == "*" else [a for a in attrs.split(",") if a]
    out = copy.deepcopy(obj)
    found = False
    for name in names:
        table = out.overrides.get(name)
        if table is not None and host in table:
            del table[host]
            found = True
            if not table:
                del out.overrides[name]
    return out if found else None
