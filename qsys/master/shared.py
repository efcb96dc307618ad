"""Values many jobs hold equal, held once (issue 12: a pending job in ≤ 2 KB).

A bulk of jobs from one user is mostly one spec: jobs whose specs pack the same hold one
spec and one packed form (:class:`SharedSpec`). Other jobs still share what they hold equal: the same submit environment, queues, resource requests
and mostly empty lists and maps: one copy each instead of one per job. A shared list or map
is read-only -- a change replaces it (a spec is replaced by qalter, never edited in place),
and an edit in place raises instead of changing every job that holds it. The tables are weak:
a value is forgotten with the last job that holds it. Strings are interned (Python frees an
interned string no one holds).
"""

from __future__ import annotations

import sys
import weakref
from typing import Any, NoReturn, TypeVar

from qsys import record
from qsys.jobspec import JobSpec, TaskRange
from qsys.record import MISSING, fields
from qsys.store.image import Packed, pack

K = TypeVar("K")
V = TypeVar("V")


def _refuse(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(f"a shared {type(self).__name__} is read-only: replace it instead")


class SharedList(list[Any]):
    """A read-only list held by many jobs (a plain list to readers, msgpack and JSON)."""

    __slots__ = ("__weakref__",)
    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse

    def __reduce__(self) -> Any:  # copy.copy/deepcopy and pickle: a plain list
        return list, (list(self),)


class SharedMap(dict[Any, Any]):
    """A read-only map held by many jobs (a plain dict to readers, msgpack and JSON)."""

    __slots__ = ("__weakref__",)
    update = setdefault = pop = popitem = clear = _refuse
    __setitem__ = __delitem__ = __ior__ = _refuse

    def __reduce__(self) -> Any:
        return dict, (dict(self),)


_sets: weakref.WeakValueDictionary[tuple[Any, ...], frozenset[Any]] = weakref.WeakValueDictionary()
_lists: weakref.WeakValueDictionary[tuple[Any, ...], SharedList] = weakref.WeakValueDictionary()
_maps: weakref.WeakValueDictionary[tuple[Any, ...], SharedMap] = weakref.WeakValueDictionary()
EMPTY_SET: frozenset[Any] = frozenset()
EMPTY_LIST = SharedList()
EMPTY_MAP = SharedMap()
SINGLE_TASK = TaskRange(1, 1, 1)  # what a job that is not an array runs: never changed


def text(value: V) -> V:
    """``value`` interned when it is a string."""
    return sys.intern(value) if isinstance(value, str) and type(value) is str else value  # type: ignore[return-value]


def shared_set(values: set[V] | frozenset[V]) -> frozenset[V]:
    """A frozen set equal to ``values``: one for all the jobs with the same holds."""
    if not values:
        return EMPTY_SET
    try:
        key = tuple(sorted(values))  # type: ignore[type-var]
    except TypeError:
        return frozenset(values)
    found = _sets.get(key)
    if found is None:
        found = _sets[key] = frozenset(values)
    return found


def shared_list(value: list[V]) -> list[V]:
    """The one read-only list equal to ``value`` (items in the same order)."""
    if type(value) is SharedList:
        return value
    if not value:
        return EMPTY_LIST
    key = tuple(text(v) for v in value)
    try:
        hash(key)
    except TypeError:  # items that are themselves lists or maps: the job keeps its own
        return value
    found = _lists.get(key)
    if found is None:
        found = _lists[key] = SharedList(key)
    return found


def shared_map(value: dict[K, V]) -> dict[K, V]:
    """The one read-only map equal to ``value`` (keys in the same order: qstat -j prints
    them so)."""
    if type(value) is SharedMap:
        return value
    if not value:
        return EMPTY_MAP
    key = tuple((text(k), text(v)) for k, v in value.items())
    try:
        hash(key)
    except TypeError:
        return value
    found = _maps.get(key)
    if found is None:
        found = _maps[key] = SharedMap(key)
    return found


_CLIENT_ONLY = [(f.name, f.default) for f in fields(JobSpec) if f.name in JobSpec.CLIENT_ONLY]
_SPEC_FIELDS = [(f.name, f.default_factory is not MISSING) for f in fields(JobSpec)]


def compact_spec(spec: JobSpec) -> JobSpec:
    """``spec`` (the master's own: decoded from a request or the store) with its lists and
    maps shared and its strings interned; returned for convenience."""
    for name, container in _SPEC_FIELDS:
        value = getattr(spec, name)
        kind = type(value)
        if kind is str:
            setattr(spec, name, sys.intern(value))
        elif container and kind is list:
            setattr(spec, name, shared_list(value))
        elif container and kind is dict:
            setattr(spec, name, shared_map(value))
    return spec


def tables() -> list[dict[Any, Any]]:
    """The intern tables' own dicts (to shrink once the jobs holding their values left)."""
    weak: list[Any] = [_sets, _lists, _maps, _specs]
    return [table.data for table in weak]


def sparse_spec(spec: JobSpec) -> dict[str, Any]:
    """What the store keeps of a spec: the fields that differ from their defaults (a typical
    job's is ~150 bytes packed instead of ~700; ``JobSpec.from_wire`` fills in the rest)."""
    data = record.to_map(spec)
    for name in JobSpec.CLIENT_ONLY:
        data.pop(name, None)
    for name, value in data.items():
        if hasattr(type(value), "__record_fields__"):  # -pe, -t
            data[name] = record.asdict(value)
    return data


class SharedSpec:
    """A spec and its packed sparse form (what the store and start orders take), held by
    every job whose spec packs the same: the spec is never changed in place (qalter gives the
    job another), so the jobs of one bulk submission hold one spec between them."""

    __slots__ = ("spec", "packed", "_finished", "__weakref__")

    def __init__(self, spec: JobSpec, packed: Packed) -> None:
        self.spec = spec
        self.packed = packed
        self._finished: dict[str, Any] | None = None

    def finished_form(self) -> dict[str, Any]:
        """The whole wire form without the script, as a finished job keeps it (read-only:
        the finished jobs of one bulk share it; a qdel of 50,000 made 2.7 KB each)."""
        if self._finished is None:
            wire = self.spec.to_wire()
            wire.pop("script", None)
            self._finished = SharedMap(wire)
        return self._finished


_specs: weakref.WeakValueDictionary[bytes, SharedSpec] = weakref.WeakValueDictionary()


def shared_spec(spec: JobSpec) -> SharedSpec:
    """The shared spec equal to ``spec`` (``spec`` itself, compacted, when it is the first)."""
    packed = Packed(pack(sparse_spec(spec)))
    found = _specs.get(packed)
    if found is None:
        if any(getattr(spec, name) != default for name, default in _CLIENT_ONLY):  # not kept: not shared
            spec = record.replace(spec, **dict(_CLIENT_ONLY))
        found = _specs[packed] = SharedSpec(compact_spec(spec), packed)
    return found
