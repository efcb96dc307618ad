"""Resource quota sets (``qconf -srqs``): limits on what groups of jobs may hold together.

::

    {
       name         maxslots
       description  "per user slots"
       enabled      TRUE
       limit        users {*} queues {all.q} hosts {*} to slots=2
    }

Each ``limit`` line is a rule (its grammar is :mod:`qsys.grammar.quota`): filters on users
(names, ``@acl``), projects, PEs, queues and hosts (names, ``@hostgroup``), each a list that may
negate members with ``!``; in braces the limit applies to each member on its own. The first
rule of a set that matches a job is the one that limits it; all enabled sets apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from qsys.errors import InvalidRequest
from qsys.grammar.quota import parse_rule
from qsys.objects.base import ConfigObject, logical_lines
from qsys.objects.complex import ComplexList
from qsys.objects.project import valid_name
from qsys.objects.values import Bool

FILTER_KINDS = ("users", "projects", "pes", "queues", "hosts")  # also the printing order
_KEY_WIDTH = 13  # "   name         maxslots": values start at column 16
_INDENT = "   "
_TYPE_WORDS = {"INT": "integer", "DOUBLE": "double", "MEMORY": "memory", "TIME": "time",
               "BOOL": "boolean", "RSMAP": "integer"}


@dataclass(frozen=True)
class QuotaFilter:
    """One filter of a rule: members (``*`` for all), excluded members, expanded or not."""

    expanded: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def text(self) -> str:
        items = ",".join((*self.include, *("!" + item for item in self.exclude)))
        return "{" + items + "}" if self.expanded else items


@dataclass(frozen=True)
class DynamicTerm:
    """One term of a dynamic limit: ``weight`` times the value of ``complex`` (or 1)."""

    weight: float
    complex: str | None = None


@dataclass(frozen=True)
class QuotaLimit:
    resource: str
    value: str  # as written: "10", "4G", "$num_proc*2"

    @property
    def dynamic(self) -> bool:
        return "$" in self.value

    def terms(self) -> tuple[DynamicTerm, ...]:
        """The weighted sum of a dynamic limit (``$num_proc*2+1``)."""
        return parse_dynamic(self.value)


@dataclass(frozen=True)
class QuotaRule:
    name: str | None = None
    filters: tuple[tuple[str, QuotaFilter], ...] = ()  # (kind, filter) in printing order
    limits: tuple[QuotaLimit, ...] = ()

    def filter(self, kind: str) -> QuotaFilter | None:
        return next((f for k, f in self.filters if k == kind), None)

    def text(self) -> str:
        """The rule as Grid Engine prints it after ``limit``."""
        parts = [f"name {self.name}"] if self.name else []
        parts.extend(f"{kind} {flt.text()}" for kind, flt in self.filters)
        limits = ",".join(f"{limit.resource}={limit.value}" for limit in self.limits) or "NONE"
        return " ".join([*parts, "to", limits])


def parse_dynamic(text: str) -> tuple[DynamicTerm, ...]:
    """``{w|$complex[*w]}[{+|-}...]`` as terms; raises InvalidRequest with Grid Engine's reason."""
    terms = []
    sign, pos = 1.0, 0
    pieces: list[tuple[float, str]] = []
    for index, char in enumerate(text):
        if char in "+-" and index > pos:
            pieces.append((sign, text[pos:index]))
            sign, pos = (1.0 if char == "+" else -1.0), index + 1
    pieces.append((sign, text[pos:]))
    for factor, piece in pieces:
        name, star, weight = piece.partition("*")
        if name.startswith("$"):
            complex_name = name[1:]
            if not complex_name.replace("_", "a").isalnum():
                raise InvalidRequest(f'"dynamical_limit" references not existing complex attribute "{complex_name}"')
            terms.append(DynamicTerm(factor * _weight(weight, piece) if star else factor, complex_name))
        elif star and weight.startswith("$"):
            raise InvalidRequest(f'"dynamical_limit" uses "{weight}" as weighting factor (only numbers are allowed)')
        else:
            terms.append(DynamicTerm(factor * _weight(piece, piece)))
    return tuple(terms)


def _weight(text: str, piece: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidRequest(f'"dynamical_limit": "{piece}" is not a weighted complex value') from None
    if value < 0:
        raise InvalidRequest(f'"dynamical_limit": weight "{text}" is negative')
    return value


def build_rule(text: str) -> QuotaRule:
    """A rule from its ``limit ...`` line, with the checks the grammar leaves to us."""
    name, parsed_filters, parsed_limits = parse_rule(text)
    filters: dict[str, QuotaFilter] = {}
    for kind, expanded, items in parsed_filters:
        if kind in filters:
            raise InvalidRequest(f'attribute "{kind}" appears more than once')
        include = tuple(item for negated, item in items if not negated)
        exclude = tuple(item for negated, item in items if negated)
        filters[kind] = QuotaFilter(expanded, include, exclude)
    limits = []
    seen: set[str] = set()
    for resource, value in parsed_limits:
        if resource in seen:
            raise InvalidRequest(f'limit "{resource}" is given twice')
        seen.add(resource)
        limit = QuotaLimit(resource, value)
        if limit.dynamic:
            hosts = filters.get("hosts")
            if hosts is None or not hosts.expanded:
                raise InvalidRequest("dynamic limits are only supported for per host rules")
            limit.terms()
        limits.append(limit)
    ordered = tuple((kind, filters[kind]) for kind in FILTER_KINDS if kind in filters)
    return QuotaRule(name, ordered, tuple(limits))


# ---------------------------------------------------------------- the text form


def _wrap(prefix: str, text: str, limit: int = 80) -> list[str]:
    """Grid Engine's line breaking of a rule: after a comma or a space, so that a broken line
    with its `` \\`` still fits in ``limit`` columns; continuation lines are indented 3."""
    if len(prefix) + len(text) <= limit:
        return [prefix + text]
    tokens: list[str] = []
    current = ""
    for char in text:
        current += char
        if char in ", ":
            tokens.append(current)
            current = ""
    if current:
        tokens.append(current)
    lines, line, empty = [], prefix, True
    for index, token in enumerate(tokens):
        last = index == len(tokens) - 1
        room = limit if last else limit - 2
        if not empty and len(line) + len(token.rstrip(" ")) > room:
            lines.append(line.rstrip(" ") + " \\")
            line, empty = _INDENT, True
        line += token
        empty = False
    lines.append(line.rstrip(" "))
    return lines


def _key(name: str) -> str:
    return _INDENT + name.ljust(_KEY_WIDTH - 1) + " "


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


class QuotaSetLayout:
    """``{ name ..., description ..., enabled ..., limit ... }``."""

    def parse(self, cls: type[Any], text: str) -> Any:
        sets = list(_parse_sets(cls, text))
        if len(sets) != 1:
            raise InvalidRequest("expected one resource quota set" if sets else
                                 "no resource quota set (a set is enclosed in { })")
        return sets[0]

    def format(self, obj: Any) -> str:
        lines = ["{", _key("name") + obj.name,
                 _key("description") + ("NONE" if obj.description is None else f'"{obj.description}"'),
                 _key("enabled") + Bool().format(obj.enabled)]
        for rule in obj.rules:
            lines.extend(_wrap(_key("limit"), rule.text()))
        lines.append("}")
        return "".join(line + "\n" for line in lines)

    def to_wire(self, obj: Any) -> dict[str, Any]:
        return {"name": obj.name, "description": obj.description or "NONE",
                "enabled": Bool().format(obj.enabled), "limit": [rule.text() for rule in obj.rules]}

    def from_wire(self, cls: type[Any], data: dict[str, Any], name: str | None) -> Any:
        description = str(data.get("description", "NONE"))
        rules = []
        for index, text in enumerate(data.get("limit", []), 1):
            try:
                rules.append(build_rule("limit " + str(text)))
            except InvalidRequest as exc:
                raise InvalidRequest(f"rule {index}: {exc.message}") from None
        return cls(name=str(data.get("name", name or "")),
                   description=None if description.upper() == "NONE" else description,
                   enabled=Bool().parse(str(data.get("enabled", "FALSE"))), rules=rules)


def _parse_sets(cls: type[Any], text: str) -> Iterator[Any]:
    values: dict[str, Any] | None = None
    rules: list[QuotaRule] = []
    start = 0
    for number, line in logical_lines(text):
        stripped = line.strip()
        where = f"line {number}: "
        if not stripped or stripped.startswith("#"):
            continue
        if stripped == "{":
            if values is not None:
                raise InvalidRequest(f"{where}'{{' inside a resource quota set")
            values, rules, start = {}, [], number
            continue
        if stripped == "}":
            if values is None:
                raise InvalidRequest(f"{where}'}}' without a resource quota set")
            if "name" not in values:
                raise InvalidRequest(f"line {start}: required attribute 'name' is missing")
            if not rules:
                raise InvalidRequest(f"line {start}: resource quota set has no rules")
            yield cls(name=values["name"], description=values.get("description"),
                      enabled=values.get("enabled", False), rules=rules)
            values = None
            continue
        if values is None:
            raise InvalidRequest(f"{where}'{stripped.split()[0]}' outside a resource quota set "
                                 "(a set is enclosed in { })")
        key, _, value = stripped.partition(" ")
        value = value.strip()
        if key not in ("name", "description", "enabled", "limit"):
            raise InvalidRequest(f"{where}unknown attribute '{key}'")
        if key == "limit":
            try:
                rules.append(build_rule(stripped))
            except InvalidRequest as exc:
                raise InvalidRequest(f"{where}{exc.message}") from None
            continue
        if key in values:
            raise InvalidRequest(f"{where}{key}: given twice")
        if not value:
            raise InvalidRequest(f"{where}{key}: missing value")
        if key == "enabled":
            try:
                values[key] = Bool().parse(value)
            except ValueError as exc:
                raise InvalidRequest(f"{where}enabled: {exc}") from None
        elif key == "description":
            values[key] = None if value.upper() == "NONE" else _unquote(value)
        else:
            values[key] = value
    if values is not None:
        raise InvalidRequest(f"line {start}: resource quota set is not closed with '}}'")


def parse_quota_sets(text: str) -> list[ResourceQuotaSet]:
    """Every set of a file (``qconf -Arqs`` may add several at once)."""
    return list(_parse_sets(ResourceQuotaSet, text))


# ---------------------------------------------------------------- the object


@dataclass
class ResourceQuotaSet(ConfigObject):
    kind = "rqs"
    key = "name"
    layout: ClassVar[Any] = QuotaSetLayout()

    name: str = ""
    description: str | None = None
    enabled: bool = False
    rules: list[QuotaRule] = field(default_factory=lambda: [QuotaRule(limits=(QuotaLimit("slots", "0"),))])

    def check(self) -> None:
        if not valid_name(self.name):
            raise ValueError(f"name: '{self.name}' is not a valid name")
        if self.description is not None and ("\n" in self.description or '"' in self.description):
            raise ValueError("description: must be one line without quotes")
        if not self.rules:
            raise ValueError("resource quota set has no rules")
        names = [rule.name for rule in self.rules if rule.name]
        for name in names:
            if not valid_name(name):
                raise ValueError(f"limit: '{name}' is not a valid rule name")
        duplicate = next((name for name in names if names.count(name) > 1), None)
        if duplicate:
            raise ValueError(f'limit: rule name "{duplicate}" is used twice')

    def rule_id(self, index: int) -> str:
        """``set/name`` or ``set/N`` (1-based): how qquota and qstat -j name a rule."""
        rule = self.rules[index]
        return f"{self.name}/{rule.name or index + 1}"

    def check_complexes(self, complexes: ComplexList) -> None:
        """Refuse limits on unknown complexes and static values their type cannot read."""
        from qsys.grammar.values import parse_value

        table = complexes.by_name()
        for rule in self.rules:
            for limit in rule.limits:
                cdef = table.get(limit.resource)
                if cdef is None:
                    raise InvalidRequest(f'"resource_quota" references not existing complex attribute "{limit.resource}"')
                if limit.dynamic:
                    for term in limit.terms():
                        used = table.get(term.complex) if term.complex else None
                        if term.complex and (used is None or used.type not in _TYPE_WORDS):
                            raise InvalidRequest(f'"dynamical_limit" references not existing complex attribute "{term.complex}"')
                    continue
                if cdef.type in _TYPE_WORDS:
                    try:
                        parse_value(cdef.type, limit.value)
                    except InvalidRequest:
                        raise InvalidRequest(f'attribute "{limit.resource}" is not a {_TYPE_WORDS[cdef.type]} value') from None
