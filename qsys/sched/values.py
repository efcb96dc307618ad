"""Values of complex attributes: parsing and the request-versus-offer comparison.

The scheduler compares every ``-l name=value`` request with what a queue, host or the
cluster offers; the master uses the same functions to refuse a malformed request at submit
time. The parsers themselves are those of :mod:`qsys.grammar.values` and
:mod:`qsys.grammar.expr` (one implementation); this module adds the comparison rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

from qsys.errors import InvalidRequest
from qsys.grammar import expr as _expr
from qsys.grammar import values as _values
from qsys.grammar.values import parse_bool, parse_memory, parse_time

__all__ = ["compare", "compile_expression", "format_amount", "match_expression", "parse_bool",
           "parse_memory", "parse_time", "parse_value"]

NUMERIC_TYPES = frozenset({"INT", "DOUBLE", "MEMORY", "TIME", "BOOL", "RSMAP"})
STRING_TYPES = frozenset({"STRING", "CSTRING", "RESTRING", "HOST"})
CASELESS_TYPES = frozenset({"CSTRING", "HOST"})
RELOPS = frozenset({"==", "!=", "<=", ">=", "<", ">", "EXCL"})


@lru_cache(maxsize=4096)
def parse_value(ctype: str, text: str) -> float | str | bool:
    """The comparable value of ``text`` for a complex of type ``ctype`` (cached: pure)."""
    return _values.parse_value(ctype, text)


Matcher = Callable[[str], bool]


def compile_expression(text: str, caseless: bool = False) -> Matcher:
    """A predicate for a request expression such as ``lx-amd64|sol*`` or ``!node[12]``."""
    return _expr.compile_expression(text, ignore_case=caseless)


def match_expression(text: str, value: str, caseless: bool = False) -> bool:
    """Does ``value`` satisfy the request expression ``text``?"""
    return _expr.matches(text, value, ignore_case=caseless)


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
    """An amount as Grid Engine prints it in scheduling messages (``1.000G``, ``2.000000``)."""
    if math.isinf(amount):
        return "infinity"
    if ctype == "MEMORY":
        for suffix, size in (("T", 1024.0**4), ("G", 1024.0**3), ("M", 1024.0**2), ("K", 1024.0)):
            if abs(amount) >= size:
                return f"{amount / size:.3f}{suffix}"
        return f"{amount:.0f}"
    return f"{amount:.6f}"
