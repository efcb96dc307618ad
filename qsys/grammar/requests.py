"""Request lists (``-l``, ``-q``) and ``-a`` times as the master parses them.

The submit client checks these cheaply by hand (``qsys.cli.options``); the master parses them
again with a grammar before it trusts them, since a spec may come from any client.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources as package_files
from typing import TYPE_CHECKING

from qsys.errors import InvalidRequest
from qsys.grammar.values import parse_datetime as _parse_datetime

if TYPE_CHECKING:
    from lark import Lark, Tree

__all__ = ["parse_datetime", "parse_queue_list", "parse_resource_list"]


@lru_cache(maxsize=2)
def _parser(start: str) -> Lark:
    """The parser for one start rule, built on first use."""
    from lark import Lark

    text = package_files.files("qsys.grammar").joinpath("requests.lark").read_text("utf-8")
    return Lark(text, start=start, parser="lalr", maybe_placeholders=False)


def _parse(start: str, text: str, what: str) -> Tree:
    from lark.exceptions import LarkError

    try:
        return _parser(start).parse(text)
    except LarkError:
        raise InvalidRequest(f'invalid {what} "{text}"') from None


def _unquote(token: str) -> str:
    return token[1:-1] if token[:1] in "\"'" else token


def parse_resource_list(text: str) -> dict[str, str]:
    """``h_vmem=1G,arch="lx*|sol*",gpu`` -> {name: value}; a bare name means ``TRUE``.

    Quotes are removed; blanks around values are dropped, blanks inside quotes are kept.
    """
    from lark import Token

    result: dict[str, str] = {}
    for resource in _parse("resources", text, "resource list").children:
        name, *rest = resource.children
        if not rest:
            result[str(name)] = "TRUE"
            continue
        parts = [
            _unquote(str(token)) if token.type != "BARE" else str(token).strip()
            for token in rest[0].children
            if isinstance(token, Token)
        ]
        value = "".join(parts)
        if not value:
            raise InvalidRequest(f'invalid resource list "{text}": empty value for "{name}"')
        result[str(name)] = value
    return result


def parse_queue_list(text: str) -> list[str]:
    """``all.q,gpu*@node[12],big.q@@bighosts,@node3`` -> the queue patterns in order."""
    queues = [str(token) for token in _parse("queues", text, "queue list").children]
    for queue in queues:
        if queue.endswith("@") or queue.count("@") > 2:
            raise InvalidRequest(f'invalid queue "{queue}" in "{text}"')
    return queues


def parse_datetime(text: str) -> float:
    """Epoch seconds from ``-a``'s ``[[CC]YY]MMDDhhmm[.SS]`` (local time)."""
    return _parse_datetime(text)
