"""Resource maps (complex type ``RSMAP``): a host's named device instances.

A host lists its instances in ``complex_values`` (``gpu=2(0 1)``, or ``gpu=2`` for ids 0
and 1); the scheduler counts them like any consumable and also hands out which ids a job
gets. The text syntax lives in :mod:`qsys.grammar.values`; this module applies it to the
objects that carry such values.
"""

from __future__ import annotations

from collections.abc import Mapping

from qsys.errors import InvalidRequest
from qsys.grammar.values import format_resource_map, parse_resource_map
from qsys.objects.complex import ComplexList


def map_names(complexes: ComplexList) -> set[str]:
    """Names (and shortcuts) of the complexes of type RSMAP."""
    return {word for row in complexes.complexes if row.type == "RSMAP" for word in (row.name, row.shortcut)}


def normalize_maps(values: Mapping[str, str], complexes: ComplexList, *, queue: bool = False) -> dict[str, str]:
    """``values`` with every resource map in the long form Grid Engine stores (``gpu=4`` ->
    ``gpu=4(0 1 2 3)``); raises ValueError ("complex_values: ...") for a malformed map, or for
    any map at all on a queue (``queue``), where resource maps cannot be attached."""
    names = map_names(complexes)
    out = dict(values)
    for name, text in values.items():
        if name not in names:
            continue
        if queue:
            raise ValueError(f"complex_values: resource map \"{name}\" cannot be attached to a queue")
        try:
            out[name] = format_resource_map(parse_resource_map(text))
        except InvalidRequest as exc:
            raise ValueError(f"complex_values: {exc.message}") from None
    return out


def map_ids(text: str) -> list[str]:
    """The instance ids of one stored resource map value (empty if it is malformed)."""
    try:
        return parse_resource_map(text)
    except InvalidRequest:
        return []
