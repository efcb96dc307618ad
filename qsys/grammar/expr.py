"""Grid Engine's string expressions, compiled once into Python predicates.

Requests such as ``-l arch="lx*|sol*"`` or ``-l hostname="!node1"`` are matched against
every host's value during scheduling, so each distinct pattern is parsed once (lark, LALR)
and turned into nested closures over precompiled regular expressions.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from qsys.errors import InvalidRequest

if TYPE_CHECKING:
    from lark import Lark

__all__ = ["compile_expression", "is_expression", "matches"]

Predicate = Callable[[str], bool]

_OPERATORS = re.compile(r"[*?\[|&!()]")
_SPECIAL = re.compile(r"[*?\[|&!()\s\]\"]")  # anything beyond a plain word


@lru_cache(maxsize=1)
def _parser() -> Lark:
    """The parser, built on first use so importing this module stays cheap."""
    from lark import Lark

    text = resources.files("qsys.grammar").joinpath("expr.lark").read_text(encoding="utf-8")
    return Lark(text, parser="lalr", maybe_placeholders=False)


def _wildcard(pattern: str, ignore_case: bool) -> Predicate:
    if _OPERATORS.search(pattern) is None:  # plain word: compare directly
        if ignore_case:
            folded = pattern.casefold()
            return lambda value: value.casefold() == folded
        return lambda value: value == pattern
    regex = re.compile(fnmatch.translate(pattern), re.IGNORECASE if ignore_case else 0)
    return lambda value: regex.match(value) is not None


def _any_of(parts: list[Predicate]) -> Predicate:
    return lambda value: any(part(value) for part in parts)


def _all_of(parts: list[Predicate]) -> Predicate:
    return lambda value: all(part(value) for part in parts)


def _negate(part: Predicate) -> Predicate:
    return lambda value: not part(value)


def _build(node: Any, ignore_case: bool) -> Predicate:
    """Turn the lark tree into closures (a handler per rule, no if/elif over node kinds)."""
    from lark import Token

    if isinstance(node, Token):
        return _wildcard(str(node), ignore_case)
    children = [_build(child, ignore_case) for child in node.children]
    builders: dict[str, Callable[[list[Predicate]], Predicate]] = {
        "any_of": _any_of,
        "all_of": _all_of,
        "negate": lambda kids: _negate(kids[0]),
        "pattern": lambda kids: kids[0],
    }
    return builders[node.data](children)


@lru_cache(maxsize=4096)
def compile_expression(pattern: str, *, ignore_case: bool = False) -> Predicate:
    """A predicate for ``pattern``; raises InvalidRequest if it is not a valid expression."""
    if pattern and _SPECIAL.search(pattern) is None:
        return _wildcard(pattern, ignore_case)  # a plain word needs no parser
    from lark.exceptions import LarkError

    try:
        tree = _parser().parse(pattern)
    except LarkError as exc:
        raise InvalidRequest(f'invalid expression "{pattern}"') from exc
    return _build(tree, ignore_case)


def matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """Whether ``value`` satisfies the expression ``pattern`` (``lx*|sol*``, ``!node1``)."""
    return compile_expression(pattern, ignore_case=ignore_case)(value)


def is_expression(text: str) -> bool:
    """Whether ``text`` uses any wildcard or operator (else it is compared literally)."""
    return _OPERATORS.search(text) is not None
