"""Typed records for the modules every command imports: a lean stand-in for
:mod:`dataclasses`, and the typed maps records travel as.

Why not the standard or a well-kept library: ``dataclasses`` pulls in ``inspect`` (and with
it ``ast``, ``dis``, ``tokenize``), ``msgspec`` (0.23) its JSON, YAML and TOML modules and
``typing_extensions``. Measured on a quiet 2-core machine, median of 30 whole
``qsub -h -b y /bin/true`` runs against ``qsys up``: 46 ms; importing ``dataclasses`` as well
makes it 60 ms, ``msgspec`` 77 ms (``-X importtime``: 19.6 and 30.6 ms cumulative on top of
what qsub imports; this module 0.5 ms).

A record needs a generated ``__init__``, ``__repr__``, ``__eq__``, defaults and default
factories, ``fields``, ``asdict``, ``replace`` -- and, for the wire, :func:`to_map` (a record
as a map, fields at their default left out) and :func:`from_map`, which checks every field
against its annotation, builds nested records from their maps and raises
:class:`ShapeError` naming the first field of the wrong type. Type checkers see a record as
a dataclass through ``dataclass_transform``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_kwargs):
        return lambda fn: fn


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record."""


class Field:
    """One declared field: its name and how its default is made."""

    __slots__ = ("name", "default", "default_factory")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING) -> None:
        self.name = ""
        self.default = default
        self.default_factory = default_factory

    def __repr__(self) -> str:
        return f"Field({self.name!r})"


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | Any = MISSING) -> Any:
    """Declare a field's default (``default_factory`` for a fresh list or dict each time)."""
    return Field(default, default_factory)


def fields(obj_or_cls: Any) -> tuple[Field, ...]:
    """The fields of a record class or instance, in declaration order."""
    return obj_or_cls.__record_fields__


def asdict(obj: Any) -> dict[str, Any]:
    """A record as a map, nested records, lists, tuples and maps converted (copies)."""
    return {f.name: _plain(getattr(obj, f.name)) for f in obj.__record_fields__}


def replace(obj: T, **changes: Any) -> T:
    """A copy of ``obj`` with ``changes`` (as :func:`dataclasses.replace`)."""
    values = {f.name: getattr(obj, f.name) for f in obj.__record_fields__}  # type: ignore[attr-defined]
    values.update(changes)
    return type(obj)(**values)


_ATOMS = frozenset({str, int, float, bool, bytes, type(None)})


def _plain(value: Any) -> Any:
    if type(value) in _ATOMS:  # most values: one set lookup (a launch holds ~300 of them)
        return value
    if hasattr(type(value), "__record_fields__"):
        return asdict(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass_transform(field_specifiers=(field, Field))
def dataclass(cls: Any = None, /, *, frozen: bool = False, slots: bool = False) -> Any:
    """Make ``cls`` a record: ``@dataclass`` or ``@dataclass(frozen=True)``; ``slots=True``
    for a record of many fields that many objects hold (a job's spec: its ~55 fields are
    ~0.5 KB as slots, ~2.3 KB as an instance dict)."""
    if cls is None:
        return lambda c: _build(c, frozen, slots)
    return _build(cls, frozen, slots)


def _is_classvar(annotation: object) -> bool:
    if type(annotation) is str:  # every annotation of a module with ``from __future__ import annotations``
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    text = getattr(annotation, "__name__", "")
    return isinstance(text, str) and (text.startswith("ClassVar") or text.startswith("typing.ClassVar"))


def _build(cls: Any, frozen: bool, slots: bool = False) -> Any:
    # Run for each of the ~150 record types a command imports, most never made: what can
    # wait for the first instance (the source of __init__) does.
    namespace = cls.__dict__
    inherited: dict[str, Field] = {}
    for base in cls.__mro__[-2:0:-1]:
        for f in base.__dict__.get("__record_fields__", ()):
            inherited[f.name] = f
    declared: dict[str, Field] = dict(inherited)
    for name, annotation in namespace.get("__annotations__", {}).items():
        if _is_classvar(annotation):
            continue
        value = namespace.get(name, MISSING)
        if type(value) is Field:
            spec = value
            if spec.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, spec.default)
        else:
            spec = Field(default=value)
        spec.name = name
        declared[name] = spec
    all_fields = tuple(declared.values())
    if slots:
        cls = _slotted(cls, [f.name for f in all_fields if f.name not in inherited])
        namespace = cls.__dict__
    cls.__record_fields__ = all_fields
    cls.__match_args__ = tuple(declared)  # type: ignore[misc]
    cls.__init__ = _lazy_init(cls, frozen)
    if "__repr__" not in namespace:
        cls.__repr__ = _repr
    if "__eq__" not in namespace:
        cls.__eq__ = _eq
    if frozen:
        cls.__setattr__ = _frozen_setattr
        cls.__delattr__ = _frozen_setattr
        cls.__hash__ = _hash
    elif not callable(namespace.get("__hash__")):
        cls.__hash__ = None  # mutable and compared by value, as dataclasses do
    return cls


def _slotted(cls: Any, names: list[str]) -> Any:
    """The same class with ``__slots__`` for its own fields (their defaults live in __init__)."""
    namespace = {k: v for k, v in cls.__dict__.items() if k not in names and k not in ("__dict__", "__weakref__")}
    namespace["__slots__"] = tuple(names)
    return type(cls)(cls.__name__, cls.__bases__, namespace)


def _lazy_init(cls: Any, frozen: bool) -> Callable[..., None]:
    """An ``__init__`` that puts the real one in its place at the first instance: a command
    makes a handful of the many message types."""

    def first_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init = _compile_init(cls, frozen)
        cls.__init__ = init
        init(self, *args, **kwargs)

    return first_init


def _compile_init(cls: Any, frozen: bool) -> Callable[..., None]:
    """``__init__(self, <fields with their defaults>)`` as source, compiled: the one way to
    give it real keyword parameters cheaply."""
    params, body = [], []
    env: dict[str, Any] = {"MISSING": MISSING, "setattr": object.__setattr__}
    seen_default = False
    for f in cls.__record_fields__:
        if f.default is not MISSING:
            env[f"d_{f.name}"] = f.default
            params.append(f"{f.name}=d_{f.name}")
            value = f.name
            seen_default = True
        elif f.default_factory is not MISSING:
            env[f"f_{f.name}"] = f.default_factory
            params.append(f"{f.name}=MISSING")
            value = f"f_{f.name}() if {f.name} is MISSING else {f.name}"
            seen_default = True
        else:
            if seen_default:
                raise TypeError(f"{cls.__name__}: field {f.name} without a default follows one with a default")
            params.append(f.name)
            value = f.name
        body.append(f"setattr(self, {f.name!r}, {value})" if frozen else f"self.{f.name} = {value}")
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    source = f"def __init__({', '.join(['self', *params])}):\n    " + "\n    ".join(body or ["pass"])
    exec(source, env)
    init: Callable[..., None] = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _repr(self: Any) -> str:
    inner = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self.__record_fields__)
    return f"{type(self).__qualname__}({inner})"


def _eq(self: Any, other: Any) -> Any:
    if type(other) is not type(self):
        return NotImplemented
    return all(getattr(self, f.name) == getattr(other, f.name) for f in self.__record_fields__)


def _hash(self: Any) -> int:
    return hash(tuple(getattr(self, f.name) for f in self.__record_fields__))


def _frozen_setattr(self: Any, name: str, *value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


# ================================================================ typed maps (the wire)


class ShapeError(ValueError):
    """A map does not have the shape of the record it should become."""


def to_map(obj: Any) -> dict[str, Any]:
    """The fields of ``obj`` that differ from their defaults (nested records stay records:
    the packer converts them with this function too)."""
    cls = type(obj)
    encoder = cls.__dict__.get("__record_encoder__")
    if encoder is not None:
        return encoder(obj)
    uses = cls.__dict__.get("__record_encodes__", 0) + 1
    if uses > _COMPILE_AFTER:  # a type sent often (rows): worth its compiled encoder
        return _compile_encoder(cls)(obj)
    cls.__record_encodes__ = uses
    out = {}
    for f in cls.__record_fields__:
        value = getattr(obj, f.name)
        if f.default is not MISSING and value == f.default:
            continue
        if f.default_factory is not MISSING and not value and value == f.default_factory():
            continue
        out[f.name] = value
    return out


_COMPILE_AFTER = 16  # a command sends a few messages: compiling is dearer than looping


def from_map(cls: type[T], data: Any, *, strict: bool = False, where: str = "") -> T:
    """The record ``cls`` a map describes, every field checked against its annotation.

    Unknown keys are an error when ``strict`` (a message) and are dropped otherwise (a newer
    peer's extra fields); a missing field takes its default.
    """
    decoder = cls.__dict__.get("__record_decoder__")
    if decoder is None:
        decoder = _compile_decoder(cls)
    return decoder(data, strict, where or cls.__name__)


def _kind(value: Any) -> str:
    return "nil" if value is None else type(value).__name__


def _compile(source: str, env: dict[str, Any], name: str) -> Any:
    exec(source, env)  # generated once per class: the hot path of every message and row
    return env[name]


def _compile_encoder(cls: Any) -> Callable[[Any], dict[str, Any]]:
    env: dict[str, Any] = {}
    body = ["def encode(obj):", "    out = {}"]
    for f in cls.__record_fields__:
        if f.default is not MISSING or f.default_factory is not MISSING:
            env[f"d_{f.name}"] = f.default if f.default is not MISSING else f.default_factory()
            body += [f"    v = obj.{f.name}", f"    if v != d_{f.name}:", f"        out[{f.name!r}] = v"]
        else:
            body.append(f"    out[{f.name!r}] = obj.{f.name}")
    body.append("    return out")
    encoder = _compile("\n".join(body), env, "encode")
    cls.__record_encoder__ = encoder
    return encoder


# the exact types of a field that need no further look (a subclass goes the slow way)
_EXACT: dict[str, frozenset[type]] = {"int": frozenset({int, bool}), "str": frozenset({str}),
                                      "bool": frozenset({bool}), "bytes": frozenset({bytes}),
                                      "float": frozenset({float, int})}


def type_trees(cls: Any) -> dict[str, Any]:
    """Each field's annotation as a tree (what decoding checks, what ``qsys.schemas``
    describes): ``("prim", "int")``, ``("none",)``, ``("any",)``, ``("record", cls)``,
    ``("list", item, "list"|"tuple"|"set")``, ``("fixed", items)`` (a tuple of
    known length), ``("dict", key, value)``, ``("union", trees)``."""
    import builtins
    import sys

    annotations: dict[str, tuple[Any, dict[str, Any]]] = {}
    for klass in reversed(cls.__mro__):
        namespace = vars(sys.modules[klass.__module__])
        for name, text in klass.__dict__.get("__annotations__", {}).items():
            annotations[name] = (text, namespace)
    return {f.name: _TypeParser(str(annotations[f.name][0]), annotations[f.name][1], vars(builtins)).parse()
            for f in cls.__record_fields__}


def parse_annotation(text: str, namespace: dict[str, Any]) -> Any:
    """One annotation's text (``list[int] | None``) as a tree (see :func:`type_trees`)."""
    import builtins

    return _TypeParser(text, namespace, vars(builtins)).parse()


def _compile_decoder(cls: Any) -> Callable[[Any, bool, str], Any]:
    exact: dict[str, frozenset[type]] = {}  # field -> the types it takes as they are
    converters: dict[str, Any] = {}  # field -> its check (None: anything goes)
    trees = type_trees(cls)
    for f in cls.__record_fields__:
        tree = trees[f.name]
        converters[f.name] = _converter(tree)
        options = tree[1] if tree[0] == "union" else (tree,)
        if all(t[0] == "none" or (t[0] == "prim") for t in options):
            exact[f.name] = frozenset().union(*(_EXACT[t[1]] if t[0] == "prim" else {type(None)} for t in options))
    required = frozenset(f.name for f in cls.__record_fields__
                         if f.default is MISSING and f.default_factory is MISSING)
    exact_get, convert_get, unknown = exact.get, converters.get, object()
    make = maker(cls)

    def decode(data: Any, strict: bool, where: str) -> Any:
        if type(data) is not dict and not isinstance(data, dict):
            raise ShapeError(f"{where}: expected a map, got {_kind(data)}")
        changed: dict[str, Any] | None = None
        for key, value in data.items():
            types = exact_get(key)
            if types is not None and type(value) in types:
                continue
            convert = convert_get(key, unknown)
            if convert is unknown:
                if strict:
                    raise ShapeError(f"{where}: unknown field {key!r}")
                changed = {} if changed is None else changed
                changed[key] = unknown
            elif convert is not None:
                new = convert(value, f"{where}.{key}")
                if new is not value:
                    changed = {} if changed is None else changed
                    changed[key] = new
        if not data.keys() >= required:
            raise ShapeError(f"{where}: missing field {sorted(required - data.keys())[0]!r}")
        if changed:
            data = {k: changed.get(k, v) for k, v in data.items() if changed.get(k) is not unknown}
        return make(data)

    cls.__record_decoder__ = decode
    return decode


def maker(cls: type[T]) -> Callable[[dict[str, Any]], T]:
    """What makes a record of ``cls`` from a map of checked fields (every key a field, every
    required field there): its defaults and the values straight into a new instance's
    ``__dict__``, without ``__init__``'s keyword binding (a third of decoding or building
    5,000 qstat rows). A record with ``__post_init__`` or slots is made by ``__init__``."""
    if hasattr(cls, "__post_init__") or any("__slots__" in vars(k) for k in cls.__mro__ if k is not object):
        return lambda values: cls(**values)
    made = cls.__dict__.get("__record_maker__")
    if made is None:
        made = _filler(cls)
        cls.__record_maker__ = made  # type: ignore[attr-defined]
    return made


def _filler(cls: Any) -> Callable[[dict[str, Any]], Any]:
    defaults = {f.name: f.default for f in cls.__record_fields__ if f.default is not MISSING}
    factories = [(f.name, f.default_factory) for f in cls.__record_fields__ if f.default_factory is not MISSING]
    new = object.__new__

    def make(values: dict[str, Any]) -> Any:
        obj = new(cls)
        filled = defaults.copy()
        for name, factory in factories:
            if name not in values:
                filled[name] = factory()
        filled.update(values)  # (``values`` may be the caller's map: it is not kept)
        object.__setattr__(obj, "__dict__", filled)
        return obj

    return make


class _TypeParser:
    """An annotation's text (``dict[str, list[int]] | None``) as a tree of checks."""

    def __init__(self, text: str, namespace: dict[str, Any], builtins: dict[str, Any]) -> None:
        self.tokens = _annotation_tokens(text)
        self.pos = 0
        self.namespace = namespace
        self.builtins = builtins

    def parse(self) -> Any:
        tree = self._union()
        return tree if self.pos == len(self.tokens) else ("any",)

    def _peek(self) -> str:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ""

    def _union(self) -> Any:
        options = [self._single()]
        while self._peek() == "|":
            self.pos += 1
            options.append(self._single())
        return options[0] if len(options) == 1 else ("union", tuple(options))

    def _single(self) -> Any:
        name = self._peek()
        self.pos += 1
        args = []
        ellipsis = False
        if self._peek() == "[":
            self.pos += 1
            while self._peek() not in ("]", ""):
                if self._peek() == "...":
                    self.pos += 1
                    ellipsis = True
                else:
                    args.append(self._union())
                if self._peek() == ",":
                    self.pos += 1
            self.pos += 1
        return self._resolve(name.rpartition(".")[2], args, ellipsis)

    def _resolve(self, name: str, args: list[Any], ellipsis: bool) -> Any:
        if name == "None":
            return ("none",)
        if name in ("tuple", "Tuple") and len(args) > 1 and not ellipsis:
            return ("fixed", tuple(args))
        if name in ("list", "List", "Sequence", "set", "frozenset", "tuple", "Tuple"):
            return ("list", args[0] if len(args) == 1 else ("any",), name.lower())
        if name in ("dict", "Dict", "Mapping"):
            return ("dict", *(args if len(args) == 2 else [("any",), ("any",)]))
        if name in ("int", "str", "bytes", "bool", "float"):
            return ("prim", name)
        found = self.namespace.get(name, self.builtins.get(name))
        if isinstance(found, type) and hasattr(found, "__record_fields__"):
            return ("record", found)
        return ("any",)


def _annotation_tokens(text: str) -> list[str]:
    """The names (``a.b_1``), ``...`` and ``[ ] , |`` of an annotation, other characters
    skipped. By hand, not with :mod:`re`: a command's first decode would import it (with
    ``enum`` and ``functools``, ~4 ms of qsub's start)."""
    tokens: list[str] = []
    i, end = 0, len(text)
    while i < end:
        char = text[i]
        if (char.isascii() and char.isalpha()) or char == "_":
            start = i
            i += 1
            while i < end and (text[i].isalnum() or text[i] in "_."):
                i += 1
            tokens.append(text[start:i])
            continue
        if text.startswith("...", i):
            tokens.append("...")
            i += 3
            continue
        if char in "[],|":
            tokens.append(char)
        i += 1
    return tokens


_PRIMS: dict[str, Any] = {"int": int, "str": str, "bytes": bytes, "bool": bool, "float": (int, float)}


def _converter(tree: Any) -> Any:
    """A function (value, where) -> value for a type tree; None when anything goes."""
    kind = tree[0]
    if kind == "any":
        return None
    if kind == "none":
        def none(value: Any, where: str) -> Any:
            if value is not None:
                raise ShapeError(f"{where}: expected nil, got {_kind(value)}")
            return value
        return none
    if kind == "prim":
        wanted, label = _PRIMS[tree[1]], tree[1]
        exact_bool = tree[1] == "bool"

        def prim(value: Any, where: str) -> Any:
            if (type(value) is bool) if exact_bool else (isinstance(value, wanted) and (
                    label in ("int", "float") or type(value) is not bool)):
                return value
            raise ShapeError(f"{where}: expected {label}, got {_kind(value)}")
        return prim
    if kind == "list":
        inner, container = _converter(tree[1]), tree[2]

        def sequence(value: Any, where: str) -> Any:
            if not isinstance(value, (list, tuple)):
                raise ShapeError(f"{where}: expected a list, got {_kind(value)}")
            if inner is not None:
                try:
                    value = [inner(item, where) for item in value]
                except ShapeError:  # again, to name the item
                    value = [inner(item, f"{where}[{i}]") for i, item in enumerate(value)]
            if container in ("set", "frozenset"):
                return set(value)
            return tuple(value) if container == "tuple" else value
        return sequence
    if kind == "fixed":
        items = [_converter(t) for t in tree[1]]

        def fixed(value: Any, where: str) -> Any:
            if not isinstance(value, (list, tuple)) or len(value) != len(items):
                raise ShapeError(f"{where}: expected a list of {len(items)}, got {_kind(value)}")
            return tuple(item if check is None else check(item, f"{where}[{i}]")
                         for i, (check, item) in enumerate(zip(items, value, strict=True)))
        return fixed
    if kind == "dict":
        keys, values = _converter(tree[1]), _converter(tree[2])

        def mapping(value: Any, where: str) -> Any:
            if not isinstance(value, dict):
                raise ShapeError(f"{where}: expected a map, got {_kind(value)}")
            if keys is None and values is None:
                return value
            return {(k if keys is None else keys(k, f"{where} key")):
                    (v if values is None else values(v, f"{where}[{k!r}]")) for k, v in value.items()}
        return mapping
    if kind == "record":
        cls = tree[1]

        def record(value: Any, where: str) -> Any:
            if type(value) is dict:
                decoder = cls.__dict__.get("__record_decoder__") or _compile_decoder(cls)
                return decoder(value, False, where)
            return value if isinstance(value, cls) else from_map(cls, value, where=where)
        return record
    options = [_converter(t) for t in tree[1]]
    if any(c is None for c in options):
        return None
    nullable = [c for t, c in zip(tree[1], options, strict=True) if t[0] != "none"]
    if len(nullable) == 1 and len(options) == 2:
        only = nullable[0]

        def optional(value: Any, where: str) -> Any:
            return None if value is None else only(value, where)
        return optional

    def union(value: Any, where: str) -> Any:
        errors = []
        for convert in options:
            try:
                return convert(value, where)
            except ShapeError as exc:
                errors.append(str(exc))
        raise ShapeError(" or ".join(errors))
    return union
