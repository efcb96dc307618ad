"""Values of complex attributes: parsing and the request-versus-offer comparison.

The scheduler compares every ``-l name=value`` request with what a queue, host or the
cluster offers; the master uses the same functions to refuse a malformed request at submit
time, so every parser raises :class:`qsys.errors.InvalidRequest` with a readable message.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable
from functools import lru_cache

from qsys.errors import InvalidRequest

NUMERIC_TYPES = frozenset({"INT", "DOUBLE", "MEMORY", "TIME", "BOOL"})
STRING_TYPES = frozenset({"STRING", "CSTRING", "RESTRING", "HOST"})
CASELESS_TYPES = frozenset({"CSTRING", "HOST"})
RELOPS = frozenset({"==", "!=", "<=", ">=", "<", ">", "EXCL"})

# Grid Engine: upper case multipliers are powers of 1024, lower case powers of 1000.
_MULTIPLIERS = {
    "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12,
    "K": 1024.0, "M": 1024.0**2, "G": 1024.0**3, "T": 1024.0**4,
}
_NUMBER = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([kKmMgGtT]?)\s*")
_INFINITY = frozenset({"infinity", "inf"})
_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n"})


def _number_with_multiplier(text: str, what: str) -> float:
    """A decimal number with an optional K/M/G/T multiplier, or INFINITY."""
    if text.strip().lower() in _INFINITY:
        return math.inf
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise InvalidRequest(f'invalid {what} value "{text}"')
    value = float(match.group(1))
    suffix = match.group(2)
    return value * _MULTIPLIERS[suffix] if suffix else value


def parse_memory(text: str) -> float:
    """Bytes of a memory value: ``512M`` (binary), ``2g`` (decimal), ``100``, ``INFINITY``."""
    value = _number_with_multiplier(text, "memory")
    if value < 0:
        raise InvalidRequest(f'invalid memory value "{text}": negative')
    return value


def parse_time(text: str) -> float:
    """Seconds of a time value: ``[[hours:]minutes:]seconds`` or ``INFINITY``."""
    stripped = text.strip()
    if stripped.lower() in _INFINITY:
        return math.inf
    parts = stripped.split(":")
    if not stripped or len(parts) > 3:
        raise InvalidRequest(f'invalid time value "{text}"')
    total = 0.0
    for part in parts:
        if part == "":
            number = 0.0
        else:
            try:
                number = float(part)
            except ValueError:
                raise InvalidRequest(f'invalid time value "{text}"') from None
            if number < 0 or math.isnan(number):
                raise InvalidRequest(f'invalid time value "{text}"')
        total = total * 60 + number
    return total


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidRequest(f'invalid boolean value "{text}"')


@lru_cache(maxsize=4096)
def parse_value(ctype: str, text: str) -> float | str | bool:
    """The comparable value of ``text`` for a complex of type ``ctype`` (cached: pure)."""
    if ctype == "MEMORY":
        return parse_memory(text)
    if ctype == "TIME":
        return parse_time(text)
    if ctype == "INT":
        value = _number_with_multiplier(text, "integer")
        if math.isfinite(value) and value != int(value):
            raise InvalidRequest(f'invalid integer value "{text}"')
        return value
    if ctype == "DOUBLE":
        value = _number_with_multiplier(text, "double")
        if math.isnan(value):
            raise InvalidRequest(f'invalid double value "{text}"')
        return value
    if ctype == "BOOL":
        return parse_bool(text)
    if ctype in STRING_TYPES:
        if text == "":
            raise InvalidRequest("empty string value")
        return text
    raise InvalidRequest(f'unknown complex type "{ctype}"')


# ---------------------------------------------------------------- string expressions
# Grammar (Grid Engine's request expressions):  or := and ('|' and)*
#   and := not ('&' not)*   not := '!' not | '(' or ')' | pattern
# A pattern holds shell wildcards; '[...]' is copied whole, so '[!a]' stays a wildcard.

Matcher = Callable[[str], bool]


class _Parser:
    def __init__(self, text: str, caseless: bool) -> None:
        self.text = text
        self.pos = 0
        self.caseless = caseless

    def fail(self, why: str) -> InvalidRequest:
        return InvalidRequest(f'invalid expression "{self.text}": {why}')

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def parse(self) -> Matcher:
        matcher = self.parse_or()
        if self.pos != len(self.text):
            raise self.fail(f'unexpected "{self.peek()}" at position {self.pos + 1}')
        return matcher

    def parse_or(self) -> Matcher:
        terms = [self.parse_and()]
        while self.peek() == "|":
            self.pos += 1
            terms.append(self.parse_and())
        if len(terms) == 1:
            return terms[0]
        return lambda value: any(term(value) for term in terms)

    def parse_and(self) -> Matcher:
        terms = [self.parse_not()]
        while self.peek() == "&":
            self.pos += 1
            terms.append(self.parse_not())
        if len(terms) == 1:
            return terms[0]
        return lambda value: all(term(value) for term in terms)

    def parse_not(self) -> Matcher:
        char = self.peek()
        if char == "!":
            self.pos += 1
            inner = self.parse_not()
            return lambda value: not inner(value)
        if char == "(":
            self.pos += 1
            inner = self.parse_or()
            if self.peek() != ")":
                raise self.fail("missing )")
            self.pos += 1
            return inner
        return self.parse_pattern()

    def parse_pattern(self) -> Matcher:
        start = self.pos
        text = self.text
        while self.pos < len(text) and text[self.pos] not in "|&!()":
            if text[self.pos] == "[":
                close = text.find("]", self.pos + 2)
                if close < 0:
                    raise self.fail("missing ]")
                self.pos = close + 1
            else:
                self.pos += 1
        pattern = text[start:self.pos]
        if not pattern:
            raise self.fail(f"empty pattern at position {start + 1}")
        if self.caseless:
            pattern = pattern.lower()
        if not any(c in pattern for c in "*?["):
            return pattern.__eq__
        regex = re.compile(fnmatch.translate(pattern))
        return lambda value: regex.match(value) is not None


@lru_cache(maxsize=1024)
def compile_expression(text: str, caseless: bool = False) -> Matcher:
    """A predicate for a request expression such as ``lx-amd64|sol*`` or ``!node[12]``.

    With ``caseless`` the predicate expects a lower-cased value.
    """
    return _Parser(text, caseless).parse()


def match_expression(text: str, value: str, caseless: bool = False) -> bool:
    """Does ``value`` satisfy the request expression ``text``?"""
    matcher = compile_expression(text, caseless)
    return matcher(value.lower() if caseless else value)


# ---------------------------------------------------------------- comparison

def _apply(relop: str, left: float | str | bool, right: float | str | bool) -> bool:
    if relop in ("==", "EXCL"):
        return left == right
    if relop == "!=":
        return left != right
    # Mixed-type comparisons cannot happen: both sides were parsed with one type.
    if relop == "<=":
        return left <= right  # type: ignore[operator]
    if relop == ">=":
        return left >= right  # type: ignore[operator]
    if relop == "<":
        return left < right  # type: ignore[operator]
    if relop == ">":
        return left > right  # type: ignore[operator]
    raise InvalidRequest(f'unknown relational operator "{relop}"')


def compare(ctype: str, relop: str, request_text: str, offered_text: str) -> bool:
    """Does the offer satisfy the request?  Grid Engine's rule is ``request relop offered``.

    Strings compared with ``==``/``!=`` treat the request as an expression (wildcards,
    ``|``, ``&``, ``!``, parentheses); CSTRING and HOST ignore case.
    """
    if ctype in STRING_TYPES:
        caseless = ctype in CASELESS_TYPES
        if relop in ("==", "!=", "EXCL"):
            hit = match_expression(request_text, offered_text, caseless)
            return hit if relop != "!=" else not hit
        if caseless:
            return _apply(relop, request_text.lower(), offered_text.lower())
        return _apply(relop, request_text, offered_text)
    request = parse_value(ctype, request_text)
    offered = parse_value(ctype, offered_text)
    return _apply(relop, request, offered)


def format_amount(ctype: str, amount: float) -> str:
    """An amount as Grid Engine prints it in scheduling messages (``1.000G``, ``2``)."""
    if math.isinf(amount):
        return "infinity"
    if ctype == "MEMORY":
        for suffix, size in (("T", 1024.0**4), ("G", 1024.0**3), ("M", 1024.0**2), ("K", 1024.0)):
            if abs(amount) >= size:
                return f"{amount / size:.3f}{suffix}"
        return f"{amount:.0f}"
    if ctype == "INT" or (amount == int(amount) and ctype != "DOUBLE"):
        return str(int(amount))
    return f"{amount:.6f}"
