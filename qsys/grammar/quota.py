"""The rule syntax of resource quota sets, parsed with a lark grammar (``quota.lark``).

:func:`parse_rule` turns one ``limit ...`` line into plain data; :mod:`qsys.objects.quota`
builds the rule objects and checks what the grammar cannot (each filter once, dynamic limits
only per host).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources as package_files
from typing import TYPE_CHECKING

from qsys.errors import InvalidRequest

if TYPE_CHECKING:
    from lark import Lark

__all__ = ["ParsedRule", "parse_rule"]

# (rule name or None, [(filter kind, expanded, [(negated, item)])], [(resource, value)])
ParsedRule = tuple[str | None, list[tuple[str, bool, list[tuple[bool, str]]]], list[tuple[str, str]]]


@lru_cache(maxsize=1)
def _parser() -> Lark:
    from lark import Lark

    text = package_files.files("qsys.grammar").joinpath("quota.lark").read_text("utf-8")
    return Lark(text, start="rule", parser="lalr", maybe_placeholders=False)


def parse_rule(text: str) -> ParsedRule:
    """One ``limit`` line; raises InvalidRequest naming what could not be read."""
    from lark import Token, Tree
    from lark.exceptions import LarkError, UnexpectedInput

    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        near = text[exc.pos_in_stream:].split(None, 1)[0] if exc.pos_in_stream is not None and \
            exc.pos_in_stream < len(text) else "end of line"
        raise InvalidRequest(f"limit: cannot read the rule at \"{near}\"") from None
    except LarkError:
        raise InvalidRequest("limit: cannot read the rule") from None
    name: str | None = None
    filters: list[tuple[str, bool, list[tuple[bool, str]]]] = []
    limits: list[tuple[str, str]] = []
    for node in tree.children:
        if isinstance(node, Token):
            continue
        if node.data == "rule_name":
            name = str(node.children[1])
        elif node.data == "filter_clause":
            kind, flt = str(node.children[0]).lower(), node.children[1]
            assert isinstance(flt, Tree) and isinstance(flt.children[0], Tree)
            items = [(len(item.children) == 2, str(item.children[-1]))
                     for item in flt.children[0].children if isinstance(item, Tree)]
            filters.append((kind, flt.data == "expanded", items))
        elif node.data == "limits":
            limits = [(str(limit.children[0]), str(limit.children[1]))
                      for limit in node.children if isinstance(limit, Tree)]
    return name, filters, limits
