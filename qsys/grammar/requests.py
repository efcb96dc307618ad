"""Request lists: ``-l resource[=value],...`` and ``-q queue[@host],...``, parsed one way.

qsub, qrsh, qlogin, qalter, qselect, qstat and qacct read ``-l`` with
:func:`parse_resource_list`, and qacct reads the ``-l`` of an accounting record's category
with it too. Hand-written and linear (every qsub may import it; a 1 MB list is parsed in
one pass), standard library only.
"""

from __future__ import annotations

from qsys.errors import InvalidRequest

__all__ = ["parse_queue_list", "parse_resource_list", "resource_name_ok"]

_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME_CHARS = _NAME_START | frozenset("0123456789.-")
_QUOTES = "\"'"


def resource_name_ok(name: str) -> bool:
    """A complex name: a letter or ``_``, then letters, digits, ``_``, ``.`` or ``-``."""
    return bool(name) and name[0] in _NAME_START and _NAME_CHARS.issuperset(name)


def _items(text: str) -> list[list[tuple[bool, str]]]:
    """The comma-separated items of ``text``, each as its (quoted, text) pieces."""
    if '"' not in text and "'" not in text:
        return [[(False, item)] for item in text.split(",")]
    items: list[list[tuple[bool, str]]] = []
    pieces: list[tuple[bool, str]] = []
    current: list[str] = []
    quote = ""
    for char in text:
        if quote:
            if char == quote:
                pieces.append((True, "".join(current)))
                current, quote = [], ""
            else:
                current.append(char)
        elif char in _QUOTES or char == ",":
            if current:
                pieces.append((False, "".join(current)))
                current = []
            if char == ",":
                items.append(pieces)
                pieces = []
            else:
                quote = char
        else:
            current.append(char)
    if quote:
        raise InvalidRequest(f'invalid resource list "{text}": unterminated quote')
    if current:
        pieces.append((False, "".join(current)))
    items.append(pieces)
    return items


def parse_resource_list(text: str, bare: str = "TRUE") -> dict[str, str]:
    """``h_vmem=1G,arch="lx*|sol*",gpu`` -> {name: value}; a name alone gets ``bare``.

    A value may mix bare text and "double" or 'single' quoted parts: the quotes are removed,
    blanks inside them kept, blanks around bare text dropped. Later names win.
    """
    result: dict[str, str] = {}
    for pieces in _items(text):
        if not pieces or pieces[0][0]:
            raise InvalidRequest(f'invalid resource list "{text}"')
        name, sep, first = pieces[0][1].partition("=")
        name = name.strip()
        if not resource_name_ok(name) or (not sep and len(pieces) > 1):
            raise InvalidRequest(f'invalid resource list "{text}"')
        if not sep:
            result[name] = bare
            continue
        value = first.strip() + "".join(part if quoted else part.strip() for quoted, part in pieces[1:])
        if not value:
            raise InvalidRequest(f'invalid resource list "{text}": empty value for "{name}"')
        result[name] = value
    return result


def parse_queue_list(text: str) -> list[str]:
    """``all.q,gpu*@node[12],big.q@@bighosts,@node3`` -> the queue patterns in order."""
    queues = [item.strip() for item in text.split(",")]
    for queue in queues:
        if queue.split() != [queue]:  # empty, or blanks inside
            raise InvalidRequest(f'invalid queue list "{text}"')
        if queue.endswith("@") or queue.count("@") > 2:
            raise InvalidRequest(f'invalid queue "{queue}" in "{text}"')
    return queues
