"""Value types of configuration attributes: how one attribute's text becomes a Python value
and back.

Each type parses the text Grid Engine prints and formats it again exactly; ``parse`` raises
``ValueError`` with a short reason ("'x' is not a number") that the engine in
:mod:`qsys.objects.base` prefixes with the line and the attribute name.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

INFINITY = "INFINITY"
_SPLIT = re.compile(r"[\s,]+")


def split_items(text: str) -> list[str]:
    """Items of a list separated by commas and/or white space."""
    return [item for item in _SPLIT.split(text.strip()) if item]


def split_pairs(text: str) -> list[str]:
    """Like :func:`split_items`, but a parenthesised part stays in its item, so a resource
    map keeps its id list (``gpu=2(0 1),slots=4`` -> ``gpu=2(0 1)``, ``slots=4``)."""
    if "(" not in text and ")" not in text:
        return split_items(text)
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ')' in '{text.strip()}'")
        elif depth == 0 and (char == "," or char.isspace()):
            if current:
                items.append("".join(current))
                current = []
            continue
        current.append(char)
    if depth:
        raise ValueError(f"unbalanced '(' in '{text.strip()}'")
    if current:
        items.append("".join(current))
    return items


class ValueType(Generic[T]):
    """Parser and formatter of one attribute's value."""

    def parse(self, text: str) -> T:
        raise NotImplementedError

    def format(self, value: T) -> str:
        raise NotImplementedError

    def check(self, value: Any) -> None:
        """Raise ``ValueError`` if ``value`` (set in code, not parsed) is not valid."""
        self.parse(self.format(value))


class Text(ValueType[str]):
    """Any single-line text (a path, a name, a method)."""

    def parse(self, text: str) -> str:
        if not text:
            raise ValueError("missing value")
        return text

    def format(self, value: str) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a string")
        return value

    def check(self, value: Any) -> None:
        if not isinstance(value, str) or not value or "\n" in value:
            raise ValueError(f"{value!r} is not a single-line text")
        self.parse(value)


class NoneText(ValueType["str | None"]):
    """Text where the word NONE means "not set" (held as ``None``)."""

    def __init__(self, word: str = "NONE") -> None:
        self.word = word

    def parse(self, text: str) -> str | None:
        if not text:
            raise ValueError("missing value")
        return None if text.upper() == "NONE" else text

    def format(self, value: str | None) -> str:
        return self.word if value is None else value

    def check(self, value: Any) -> None:
        if value is not None and (not isinstance(value, str) or not value or "\n" in value):
            raise ValueError(f"{value!r} is not a single-line text")


class Choice(ValueType[str]):
    """One word out of a fixed set (compared without case, kept as spelt in ``options``)."""

    def __init__(self, *options: str) -> None:
        self.options = options
        self._lookup = {option.lower(): option for option in options}

    def parse(self, text: str) -> str:
        found = self._lookup.get(text.lower())
        if found is None:
            raise ValueError(f"'{text}' is not one of {', '.join(self.options)}")
        return found

    def format(self, value: str) -> str:
        return value


class Int(ValueType[int]):
    """A whole number, optionally bounded."""

    def __init__(self, minimum: int | None = 0, maximum: int | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def parse(self, text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise ValueError(f"'{text}' is not a number") from None
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{value} is below {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"{value} is above {self.maximum}")
        return value

    def format(self, value: int) -> str:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{value!r} is not a number")
        return str(value)


class Float(ValueType[float]):
    """A real number, printed with six decimals as Grid Engine does (``0.250000``)."""

    def parse(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"'{text}' is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"'{text}' is not a finite number")
        return value

    def format(self, value: float) -> str:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{value!r} is not a number")
        return f"{value:f}"


class Bool(ValueType[bool]):
    """TRUE/FALSE (or true/false in the configurations that print lower case)."""

    _WORDS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}

    def __init__(self, upper: bool = True) -> None:
        self.upper = upper

    def parse(self, text: str) -> bool:
        value = self._WORDS.get(text.lower())
        if value is None:
            raise ValueError(f"'{text}' is not TRUE or FALSE")
        return value

    def format(self, value: bool) -> str:
        if not isinstance(value, bool):
            raise ValueError(f"{value!r} is not TRUE or FALSE")
        word = "true" if value else "false"
        return word.upper() if self.upper else word


@dataclass(frozen=True, slots=True)
class Duration:
    """A time value as written (``00:05:00``, ``0:7:30``, ``INFINITY``) and its seconds."""

    text: str
    seconds: float  # math.inf for INFINITY

    @classmethod
    def parse(cls, text: str) -> Duration:
        if text.upper() == INFINITY:
            return cls(INFINITY, math.inf)
        parts = text.split(":")
        if len(parts) > 3 or not all(part.isdigit() for part in parts):
            raise ValueError(f"'{text}' is not a time (hh:mm:ss or INFINITY)")
        seconds = 0
        for part in parts:
            seconds = seconds * 60 + int(part)
        return cls(text, float(seconds))

    @classmethod
    def of(cls, seconds: int) -> Duration:
        """The hh:mm:ss spelling of a number of seconds."""
        hours, rest = divmod(seconds, 3600)
        return cls(f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}", float(seconds))

    @property
    def infinite(self) -> bool:
        return math.isinf(self.seconds)

    def __str__(self) -> str:
        return self.text


_MEMORY = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)([kKmMgGtT]?)$")
_FACTORS = {"": 1, "k": 1000, "K": 1024, "m": 1000**2, "M": 1024**2, "g": 1000**3, "G": 1024**3,
            "t": 1000**4, "T": 1024**4}


@dataclass(frozen=True, slots=True)
class Memory:
    """A memory value as written (``4G``, ``23891.457031M``, ``INFINITY``) and its bytes.

    As in Grid Engine, lower-case suffixes are powers of 1000 and upper-case ones of 1024.
    """

    text: str
    bytes: float  # math.inf for INFINITY

    @classmethod
    def parse(cls, text: str) -> Memory:
        if text.upper() == INFINITY:
            return cls(INFINITY, math.inf)
        match = _MEMORY.match(text)
        if match is None:
            raise ValueError(f"'{text}' is not a memory value")
        return cls(text, float(match.group(1)) * _FACTORS[match.group(2)])

    @property
    def infinite(self) -> bool:
        return math.isinf(self.bytes)

    def __str__(self) -> str:
        return self.text


class TimeValue(ValueType[Duration]):
    """hh:mm:ss, seconds or INFINITY."""

    def parse(self, text: str) -> Duration:
        return Duration.parse(text)

    def format(self, value: Duration) -> str:
        if not isinstance(value, Duration):
            raise ValueError(f"{value!r} is not a time")
        return value.text


class MemoryValue(ValueType[Memory]):
    """A byte count with an optional k/K/m/M/g/G/t/T suffix, or INFINITY."""

    def parse(self, text: str) -> Memory:
        return Memory.parse(text)

    def format(self, value: Memory) -> str:
        if not isinstance(value, Memory):
            raise ValueError(f"{value!r} is not a memory value")
        return value.text


class WordList(ValueType[list[str]]):
    """Names separated by commas or spaces; the word NONE for an empty list.

    ``sep`` is what the list is printed with; ``item`` (optional) checks each element.
    """

    def __init__(self, sep: str = " ", word: str = "NONE", item: ValueType[str] | None = None) -> None:
        self.sep = sep
        self.word = word
        self.item = item

    def parse(self, text: str) -> list[str]:
        if not text:
            raise ValueError("missing value")
        items = split_items(text)
        if len(items) == 1 and items[0].upper() == "NONE":
            return []
        if self.item is not None:
            return [self.item.parse(item) for item in items]
        for item in items:
            if any(c in item for c in "[]="):
                raise ValueError(f"'{item}' is not a name")
        return items

    def format(self, value: list[str]) -> str:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"{value!r} is not a list of names")
        return self.sep.join(value) if value else self.word


class NameValues(ValueType[dict[str, str]]):
    """``name=value`` pairs (``mem_free=4G,slots=8``); NONE for none. Order is kept."""

    def __init__(self, sep: str = ",", word: str = "NONE") -> None:
        self.sep = sep
        self.word = word

    def parse(self, text: str) -> dict[str, str]:
        if not text:
            raise ValueError("missing value")
        items = split_pairs(text)
        if len(items) == 1 and items[0].upper() == "NONE":
            return {}
        pairs: dict[str, str] = {}
        for item in items:
            name, eq, value = item.partition("=")
            if not eq or not name or not value:
                raise ValueError(f"'{item}' is not name=value")
            if name in pairs:
                raise ValueError(f"'{name}' is given twice")
            pairs[name] = value
        return pairs

    def format(self, value: dict[str, str]) -> str:
        if not isinstance(value, dict):
            raise ValueError(f"{value!r} is not a name=value list")
        return self.sep.join(f"{k}={v}" for k, v in value.items()) if value else self.word
