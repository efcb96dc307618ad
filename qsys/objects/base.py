"""The generic engine behind every configuration object.

A kind is a dataclass whose fields carry an :class:`Attr` in their metadata (value type,
per-host overrides, read-only). The functions here -- :func:`parse_text`, :func:`format_text`,
:func:`to_wire`, :func:`from_wire`, :func:`validate`, :func:`value_for` -- read that metadata,
so a new kind is a field list and a layout, never new parsing code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from qsys.errors import InvalidRequest
from qsys.objects.values import ValueType

if TYPE_CHECKING:
    from qsys.objects.layout import Layout

META = "qsys"
ObjT = TypeVar("ObjT", bound="ConfigObject")


@dataclass(frozen=True, slots=True)
class Attr:
    """What the engine knows about one attribute."""

    vtype: ValueType[Any]
    per_host: bool = False  # may carry [host=value] / [@group=value] overrides
    readonly: bool = False  # reported by the system (load_values), not set by users


def attr(
    vtype: ValueType[Any],
    default: Any = MISSING,
    *,
    factory: Any = MISSING,
    per_host: bool = False,
    readonly: bool = False,
) -> Any:
    """A dataclass field that is a Grid Engine attribute of the same name."""
    meta = {META: Attr(vtype, per_host, readonly)}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True)
class Spec:
    """One attribute of a kind, in printing order."""

    name: str
    attr: Attr
    required: bool


class ConfigObject:
    """Base of all kinds; subclasses are dataclasses and set the class variables."""

    kind: ClassVar[str]
    key: ClassVar[str | None] = None  # the field naming an object; None: one object per cluster
    layout: ClassVar[Layout]
    sparse: ClassVar[bool] = False  # attributes left at None are not set (local configuration)

    def check(self) -> None:
        """Rules across attributes; raise ``ValueError("attr: reason")``."""

    @property
    def object_name(self) -> str:
        return str(getattr(self, self.key)) if self.key else self.kind


_SPECS: dict[type, tuple[Spec, ...]] = {}
_SPEC_MAPS: dict[type, dict[str, Spec]] = {}


def specs(cls: type) -> tuple[Spec, ...]:
    """The attributes of a kind, from its field metadata (computed once per kind)."""
    found = _SPECS.get(cls)
    if found is not None:
        return found
    out = []
    for f in fields(cls):
        meta = f.metadata.get(META)
        if meta is None:
            continue
        required = f.default is MISSING and f.default_factory is MISSING
        if meta.per_host and "overrides" not in {g.name for g in fields(cls)}:
            raise TypeError(f"{cls.__name__}.{f.name}: per-host attribute needs an overrides field")
        out.append(Spec(f.name, meta, required))
    found = _SPECS[cls] = tuple(out)
    return found


def spec_map(cls: type) -> dict[str, Spec]:
    """The attributes of a kind by name."""
    found = _SPEC_MAPS.get(cls)
    if found is None:
        found = _SPEC_MAPS[cls] = {spec.name: spec for spec in specs(cls)}
    return found


# ---------------------------------------------------------------- values with host overrides

_OVERRIDE = re.compile(r"\[\s*([^\s=\]]+)\s*=\s*([^\]]*?)\s*\]")


def parse_value(spec: Spec, text: str) -> tuple[Any, dict[str, Any]]:
    """The value of one attribute and its per-host overrides (``1,[node1=4],[@g=2]``)."""
    text = text.strip()
    if not spec.attr.per_host or "[" not in text:
        return spec.attr.vtype.parse(text), {}
    start = text.index("[")
    default = text[:start].rstrip(", \t")
    overrides: dict[str, Any] = {}
    pos = start
    for match in _OVERRIDE.finditer(text, start):
        if text[pos:match.start()].strip(", \t"):
            break
        host = match.group(1)
        if host in overrides:
            raise ValueError(f"'{host}' is given twice")
        overrides[host] = spec.attr.vtype.parse(match.group(2))
        pos = match.end()
    if text[pos:].strip(", \t"):
        raise ValueError(f"'{text[pos:].strip()}' is not a [host=value] override")
    return spec.attr.vtype.parse(default), overrides


def format_value(spec: Spec, value: Any, overrides: dict[str, Any] | None = None) -> str:
    """The text of one attribute with its overrides."""
    vtype = spec.attr.vtype
    text = vtype.format(value)
    for host, override in (overrides or {}).items():
        text += f",[{host}={vtype.format(override)}]"
    return text


def overrides_of(obj: Any, name: str) -> dict[str, Any]:
    table = getattr(obj, "overrides", None)
    return table.get(name, {}) if table else {}


def value_for(obj: Any, name: str, host: str, groups: Iterable[str] = ()) -> Any:
    """The value of attribute ``name`` on ``host``: its own override, else the first override
    (in the object's order) of a host group it belongs to, else the default."""
    overrides = overrides_of(obj, name)
    if host in overrides:
        return overrides[host]
    member = {g if g.startswith("@") else "@" + g for g in groups}
    for key, value in overrides.items():
        if key in member:
            return value
    return getattr(obj, name)


# ---------------------------------------------------------------- logical lines

def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, line) with ``\\`` continuations joined; a line broken after a
    comma is joined without a space, any other with one space."""
    buf: str | None = None
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        more = line.endswith("\\")
        if more:
            line = line[:-1].rstrip()
        if buf is None:
            buf, start = line, number
        else:
            piece = line.strip()
            buf = buf + piece if (not buf or buf.endswith(",") or not piece) else f"{buf} {piece}"
        if not more:
            yield start, buf
            buf = None
    if buf is not None:
        yield start, buf


def wrap(prefix: str, indent: int, value: str, limit: int = 80) -> list[str]:
    """Lines of ``prefix + value`` broken after commas or spaces with ``\\`` so that items end
    before column ``limit`` (Grid Engine's 80-column output)."""
    if len(prefix) + len(value) < limit:
        return [prefix + value]
    tokens = re.findall(r"[^ ,]*[ ,]|[^ ,]+$", value)
    lines: list[str] = []
    line, empty = prefix, True
    for token in tokens:
        item = token.rstrip(" ")
        if not empty and len(line) + len(item.rstrip(",")) >= limit:
            lines.append(line.rstrip(" ") + " \\")
            line, empty = " " * indent, True
        line += token
        empty = False
    lines.append(line.rstrip(" "))
    return lines


# ---------------------------------------------------------------- the generic functions

def parse_text(cls: type[ObjT], text: str) -> ObjT:
    """An object from its Grid Engine text; errors name the line and the attribute."""
    return cls.layout.parse(cls, text)


def format_text(obj: ConfigObject) -> str:
    """The Grid Engine text of an object, exactly as ``qconf -s...`` prints it."""
    return type(obj).layout.format(obj)


def to_wire(obj: ConfigObject) -> dict[str, Any]:
    """A msgpack-able map (attribute name -> text) for the store and the protocol."""
    return type(obj).layout.to_wire(obj)


def from_wire(kind: str | type[ObjT], data: dict[str, Any], name: str | None = None) -> Any:
    """The object a :func:`to_wire` map describes; ``name`` fills the key if absent."""
    if isinstance(kind, str):
        from qsys.objects import kind_class

        cls: type[ConfigObject] = kind_class(kind)
    else:
        cls = kind
    return cls.layout.from_wire(cls, data, name)


def build(cls: type[ObjT], values: dict[str, tuple[Any, dict[str, Any]]], where: str = "") -> ObjT:
    """An object from parsed (value, overrides) pairs; missing required attributes fail."""
    for spec in specs(cls):
        if spec.required and spec.name not in values:
            raise InvalidRequest(f"{where}missing attribute '{spec.name}'")
    kwargs: dict[str, Any] = {name: value for name, (value, _) in values.items()}
    overrides = {name: extra for name, (_, extra) in values.items() if extra}
    if overrides:
        kwargs["overrides"] = overrides
    return cls(**kwargs)


def validate(obj: ConfigObject) -> None:
    """Raise :class:`InvalidRequest` ("slots: -1 is below 0") if ``obj`` is not valid."""
    for spec in specs(type(obj)):
        value = getattr(obj, spec.name)
        if value is None and obj.sparse:
            continue
        try:
            spec.attr.vtype.check(value)
            for host, override in overrides_of(obj, spec.name).items():
                try:
                    spec.attr.vtype.check(override)
                except ValueError as exc:
                    raise ValueError(f"[{host}=...]: {exc}") from None
        except ValueError as exc:
            raise InvalidRequest(f"{spec.name}: {exc}") from None
    try:
        obj.check()
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def keep_readonly(new: ObjT, old: ObjT) -> ObjT:
    """``new`` with the read-only attributes of ``old`` (a user edit never sets load values)."""
    kept = {spec.name: getattr(old, spec.name) for spec in specs(type(old)) if spec.attr.readonly}
    return replace(new, **kept) if kept else new  # type: ignore[type-var]
