"""A lean stand-in for :mod:`dataclasses` for the modules every command imports.

``dataclasses`` pulls in ``inspect`` (and with it ``ast``, ``dis``, ``tokenize`` ...), which
costs a short-lived command like ``qsub`` more than its whole request to the master. The
message, job-spec and record types need only a generated ``__init__``, ``__repr__``,
``__eq__``, defaults and default factories, ``fields`` and ``asdict``: that is all this
module does. Type checkers see it as a dataclass through ``dataclass_transform``.
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


def _plain(value: Any) -> Any:
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
def dataclass(cls: Any = None, /, *, frozen: bool = False) -> Any:
    """Make ``cls`` a record: ``@dataclass`` or ``@dataclass(frozen=True)``."""
    if cls is None:
        return lambda c: _build(c, frozen)
    return _build(cls, frozen)


def _is_classvar(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return isinstance(text, str) and (text.startswith("ClassVar") or text.startswith("typing.ClassVar"))


def _build(cls: Any, frozen: bool) -> Any:
    inherited: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in getattr(base, "__record_fields__", ()):
            inherited[f.name] = f
    declared: dict[str, Field] = dict(inherited)
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if _is_classvar(annotation):
            continue
        value = cls.__dict__.get(name, MISSING)
        spec = value if isinstance(value, Field) else Field(default=value)
        spec.name = name
        declared[name] = spec
        if isinstance(value, Field):
            if spec.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, spec.default)
    all_fields = tuple(declared.values())
    cls.__record_fields__ = all_fields
    cls.__match_args__ = tuple(f.name for f in all_fields)  # type: ignore[misc]
    _add_init(cls, all_fields, frozen)
    if "__repr__" not in cls.__dict__:
        cls.__repr__ = _repr
    if "__eq__" not in cls.__dict__:
        cls.__eq__ = _eq
    if frozen:
        cls.__setattr__ = _frozen_setattr
        cls.__delattr__ = _frozen_setattr
        cls.__hash__ = _hash
    elif not callable(cls.__dict__.get("__hash__")):
        cls.__hash__ = None  # mutable and compared by value, as dataclasses do
    return cls


def _add_init(cls: Any, all_fields: tuple[Field, ...], frozen: bool) -> None:
    params, body = [], []
    env: dict[str, Any] = {"MISSING": MISSING, "setattr": object.__setattr__}
    seen_default = False
    for f in all_fields:
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
    post = "__post_init__" in dir(cls)
    if post:
        body.append("self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n    " + "\n    ".join(body or ["pass"])
    if not params:
        source = "def __init__(self):\n    " + "\n    ".join(body or ["pass"])

    def first_init(self: Any, *args: Any, **kwargs: Any) -> None:
        # compiled at the first instance: a command uses a handful of the many message types
        exec(source, env)  # the one way to give __init__ real keyword parameters cheaply
        init = env["__init__"]
        init.__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__ = init
        init(self, *args, **kwargs)

    cls.__init__ = first_init


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
