"""The two text layouts of Grid Engine objects: ``name value`` lines (queues, PEs, hosts,
configurations...) and a table with one row per object (the complex list).

A layout turns an object into text and wire maps and back, reading the kind's field
metadata; kinds only choose a layout and its column widths.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from qsys.errors import InvalidRequest
from qsys.objects.base import (
    ConfigObject,
    Spec,
    build,
    format_value,
    logical_lines,
    overrides_of,
    parse_value,
    spec_map,
    specs,
    wrap,
)

ObjT = TypeVar("ObjT", bound=ConfigObject)


class Layout(Protocol):
    def parse(self, cls: type[ObjT], text: str) -> ObjT: ...
    def format(self, obj: ConfigObject) -> str: ...
    def to_wire(self, obj: ConfigObject) -> dict[str, Any]: ...
    def from_wire(self, cls: type[ObjT], data: dict[str, Any], name: str | None) -> ObjT: ...


def _parse_one(spec: Spec, text: str, where: str) -> tuple[Any, dict[str, Any]]:
    try:
        return parse_value(spec, text)
    except ValueError as exc:
        raise InvalidRequest(f"{where}{spec.name}: {exc}") from None


@dataclass(frozen=True)
class KeyValueLayout:
    """``name value`` lines, values starting at column ``width``.

    ``header`` (the configurations) is a first line ``#<name>:`` carrying the object's key;
    ``trailer`` is printed after the last attribute.
    """

    width: int
    header: bool = False
    trailer: str = ""
    limit: int = 80

    def _set(self, obj: ConfigObject) -> Iterator[tuple[Spec, Any]]:
        for spec in specs(type(obj)):
            value = getattr(obj, spec.name)
            if value is None and obj.sparse:
                continue
            yield spec, value

    def format(self, obj: ConfigObject) -> str:
        lines = [f"#{obj.object_name}:"] if self.header else []
        for spec, value in self._set(obj):
            text = format_value(spec, value, overrides_of(obj, spec.name))
            prefix = spec.name.ljust(self.width - 1) + " "
            lines.extend(wrap(prefix, len(prefix), text, self.limit))
        return "".join(line + "\n" for line in lines) + self.trailer

    def parse(self, cls: type[ObjT], text: str) -> ObjT:
        known = spec_map(cls)
        values: dict[str, tuple[Any, dict[str, Any]]] = {}
        name: str | None = None
        for number, line in logical_lines(text):
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith("#"):
                if self.header and name is None and not values and stripped.endswith(":"):
                    name = stripped[1:-1].strip()
                continue
            where = f"line {number}: "
            parts = stripped.split(None, 1)
            spec = known.get(parts[0])
            if spec is None:
                raise InvalidRequest(f"{where}unknown attribute '{parts[0]}'")
            if spec.name in values:
                raise InvalidRequest(f"{where}{spec.name}: given twice")
            if len(parts) < 2:
                raise InvalidRequest(f"{where}{spec.name}: missing value")
            values[spec.name] = _parse_one(spec, parts[1], where)
        obj = build(cls, values)
        if name and cls.key:
            setattr(obj, cls.key, name)
        return obj

    def to_wire(self, obj: ConfigObject) -> dict[str, Any]:
        data = {spec.name: format_value(spec, value, overrides_of(obj, spec.name))
                for spec, value in self._set(obj)}
        if self.header and obj.key:
            data[obj.key] = obj.object_name
        return data

    def from_wire(self, cls: type[ObjT], data: dict[str, Any], name: str | None) -> ObjT:
        known = spec_map(cls)
        values: dict[str, tuple[Any, dict[str, Any]]] = {}
        key = data.get(cls.key) if (self.header and cls.key) else None
        for attr_name, text in data.items():
            if self.header and attr_name == cls.key:
                continue
            spec = known.get(attr_name)
            if spec is None:
                raise InvalidRequest(f"unknown attribute '{attr_name}'")
            values[attr_name] = _parse_one(spec, str(text), "")
        if name is not None and cls.key and not self.header and cls.key not in values:
            values[cls.key] = (name, {})
        obj = build(cls, values)
        key = key if key is not None else name
        if self.header and cls.key and key is not None:
            setattr(obj, cls.key, str(key))
        return obj


@dataclass(frozen=True)
class TableLayout:
    """One row per item in ``rows`` (a list field of the container), columns padded to
    ``widths``; ``head`` and ``foot`` are printed around the rows (comment lines)."""

    rows: str
    row_cls: type[ConfigObject]
    widths: tuple[int, ...]
    head: tuple[str, ...] = ()
    foot: tuple[str, ...] = ()

    def _row_text(self, row: ConfigObject) -> str:
        cells = [spec.attr.vtype.format(getattr(row, spec.name)) for spec in specs(self.row_cls)]
        padded = [cell.ljust(width - 1) + " " for cell, width in zip(cells, self.widths, strict=False)]
        return "".join(padded) + "".join(cells[len(self.widths):])

    def format(self, obj: ConfigObject) -> str:
        lines = [*self.head, *(self._row_text(row) for row in getattr(obj, self.rows)), *self.foot]
        return "".join(line + "\n" for line in lines)

    def _row(self, cells: list[str], where: str) -> ConfigObject:
        columns = specs(self.row_cls)
        if len(cells) != len(columns):
            raise InvalidRequest(f"{where}expected {len(columns)} fields, got {len(cells)}")
        values = {spec.name: _parse_one(spec, cell, where) for spec, cell in zip(columns, cells, strict=True)}
        return build(self.row_cls, values, where)

    def parse(self, cls: type[ObjT], text: str) -> ObjT:
        rows = [self._row(line.split(), f"line {number}: ")
                for number, line in logical_lines(text)
                if line.strip() and not line.lstrip().startswith("#")]
        return cls(**{self.rows: rows})

    def to_wire(self, obj: ConfigObject) -> dict[str, Any]:
        columns = specs(self.row_cls)
        return {self.rows: [{spec.name: spec.attr.vtype.format(getattr(row, spec.name)) for spec in columns}
                            for row in getattr(obj, self.rows)]}

    def from_wire(self, cls: type[ObjT], data: dict[str, Any], name: str | None) -> ObjT:
        columns = specs(self.row_cls)
        rows = []
        for index, item in enumerate(data.get(self.rows, []), 1):
            where = f"row {index}: "
            missing = [spec.name for spec in columns if spec.name not in item]
            if missing:
                raise InvalidRequest(f"{where}missing attribute '{missing[0]}'")
            rows.append(self._row([str(item[spec.name]) for spec in columns], where))
        return cls(**{self.rows: rows})
