"""Grid Engine values (memory, time, numbers, booleans) parsed by hand.

The master and the scheduler call these for every load value and request they compare, so
they are plain string code: no regular expressions (nothing to compile at import) and no
parser generator.
"""

from __future__ import annotations

import math

from qsys.errors import InvalidRequest

TYPE_CHECKING = False
if TYPE_CHECKING:  # collections costs a command 2 ms at run time
    from collections.abc import Callable

__all__ = [
    "INFINITE_SLOTS",
    "MEMORY_FACTORS",
    "parse_bool",
    "parse_datetime",
    "parse_memory",
    "parse_number",
    "parse_resource_map",
    "format_resource_map",
    "parse_slot_range",
    "parse_task_range",
    "parse_time",
    "parse_value",
]

# Upper case: binary multiples; lower case: decimal ones (Grid Engine's convention).
MEMORY_FACTORS: dict[str, float] = {
    "": 1.0,
    "K": 1024.0,
    "M": 1024.0**2,
    "G": 1024.0**3,
    "T": 1024.0**4,
    "k": 1000.0,
    "m": 1000.0**2,
    "g": 1000.0**3,
    "t": 1000.0**4,
}

INFINITE_SLOTS = 9999999  # Grid Engine's "no upper bound" of a slot range
_NUMBER_CHARS = frozenset("0123456789.+-eE")  # keeps float() from taking nan, 1_0, ...
_TIME_CHARS = frozenset("0123456789.")
_INFINITY = frozenset({"infinity", "inf"})
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def _float(text: str) -> float | None:
    """A decimal number, or None (float() alone would accept nan, inf and 1_000)."""
    if not text or not _NUMBER_CHARS.issuperset(text):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _scaled(text: str) -> float | None:
    """A number with an optional memory suffix, or None."""
    stripped = text.strip()
    factor = MEMORY_FACTORS.get(stripped[-1:]) if stripped[-1:].isalpha() else None
    number = _float(stripped[:-1] if factor is not None else stripped)
    if number is None:
        return None
    return number * factor if factor is not None else number


def parse_memory(text: str) -> float:
    """Bytes from ``512M``, ``1.5G``, ``100k``, ``4096`` or ``INFINITY``."""
    value = _scaled(text)
    if value is not None and value >= 0:
        return value
    if text.strip().lower() in _INFINITY:
        return math.inf
    raise InvalidRequest(f'invalid memory value "{text}"')


def parse_time(text: str) -> float:
    """Seconds from ``[[hours:]minutes:]seconds`` (``1:30:00``), ``3600`` or ``INFINITY``.

    Empty fields count as zero, as in Grid Engine (``::30`` is 30 seconds).
    """
    parts = text.split(":")
    if len(parts) <= 3 and text.strip():
        total = 0.0
        for part in parts:
            stripped = part.strip()
            if stripped and (not _TIME_CHARS.issuperset(stripped) or stripped == "."):
                break
            try:
                total = total * 60.0 + (float(stripped) if stripped else 0.0)
            except ValueError:
                break
        else:
            return total
    if text.strip().lower() in _INFINITY:
        return math.inf
    raise InvalidRequest(f'invalid time value "{text}"')


def parse_number(text: str) -> float:
    """A plain number (``4``, ``-1.5``, ``2e3``), ``INFINITY``, or one with a memory suffix.

    Grid Engine accepts the memory multipliers on INT and DOUBLE values too (``-l slots=1k``).
    """
    value = _scaled(text)
    if value is not None:
        return value
    if text.strip().lower() in _INFINITY:
        return math.inf
    raise InvalidRequest(f'invalid number "{text}"')


def parse_bool(text: str) -> bool:
    """``TRUE``/``FALSE`` in any case, ``t``/``f``, ``yes``/``no``, ``y``/``n``, ``1``/``0``."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise InvalidRequest(f'invalid boolean value "{text}"')


def _parse_int(text: str) -> float:
    value = parse_number(text)
    if not math.isinf(value) and value != int(value):
        raise InvalidRequest(f'invalid integer value "{text}"')
    return value


MAX_SHORT_MAP_IDS = 512  # ids ``gpu=N`` may create without listing them
_ID_FORBIDDEN = frozenset(" \t,=()[]")


def parse_resource_map(text: str) -> list[str]:
    """The instance ids of a resource map value, in order and with repeats.

    ``2(0 1)`` and ``2(gpu0 gpu1)`` list them; an integer range ``0-3`` stands for 0 1 2 3;
    the short form ``4`` means ``4(0 1 2 3)``. The amount must equal the number of ids.
    """
    stripped = text.strip()
    head, paren, rest = stripped.partition("(")
    try:
        amount = int(head)
    except ValueError:
        raise InvalidRequest(f'invalid resource map "{text}": "{head}" is not an amount') from None
    if amount < 0:
        raise InvalidRequest(f'invalid resource map "{text}": negative amount')
    if not paren:
        if amount > MAX_SHORT_MAP_IDS:
            raise InvalidRequest(f'invalid resource map "{text}": list more than '
                                 f'{MAX_SHORT_MAP_IDS} ids explicitly')
        return [str(i) for i in range(amount)]
    if not rest.endswith(")") or "(" in rest[:-1] or ")" in rest[:-1]:
        raise InvalidRequest(f'invalid resource map "{text}": expected amount(id id ...)')
    ids: list[str] = []
    for spec in rest[:-1].split():
        low, dash, high = spec.partition("-")
        if dash and low.isdigit() and high.isdigit():
            if int(high) < int(low):
                raise InvalidRequest(f'invalid resource map "{text}": empty range "{spec}"')
            ids.extend(str(i) for i in range(int(low), int(high) + 1))
        elif _ID_FORBIDDEN.isdisjoint(spec):
            ids.append(spec)
        else:
            raise InvalidRequest(f'invalid resource map "{text}": "{spec}" is not an id')
    if len(ids) != amount:
        raise InvalidRequest(f'invalid resource map "{text}": amount {amount} but {len(ids)} ids')
    return ids


def format_resource_map(ids: list[str]) -> str:
    """The long form Grid Engine stores and shows: ``2(0 1)``."""
    return f"{len(ids)}({' '.join(ids)})"


def _map_amount(text: str) -> float:
    """A resource map's capacity (its long or short form) or a request for it (``2``)."""
    if "(" in text:
        return float(len(parse_resource_map(text)))
    return _parse_int(text)


def _keep_string(text: str) -> str:
    if not text:
        raise InvalidRequest("empty string value")
    return text


_BY_TYPE: dict[str, Callable[[str], float | str | bool]] = {
    "INT": _parse_int,
    "DOUBLE": parse_number,
    "MEMORY": parse_memory,
    "TIME": parse_time,
    "BOOL": parse_bool,
    "STRING": _keep_string,
    "CSTRING": _keep_string,
    "RESTRING": _keep_string,
    "HOST": _keep_string,
    "RSMAP": _map_amount,
}


def parse_value(ctype: str, text: str) -> float | str | bool:
    """The value of a complex of type ``ctype`` (INT, DOUBLE, MEMORY, TIME, BOOL, STRING, ...).

    String types come back unchanged: they are compared as expressions (``qsys.grammar.expr``).
    """
    parser = _BY_TYPE.get(ctype.upper())
    if parser is None:
        raise InvalidRequest(f'unknown complex type "{ctype}"')
    return parser(text)


def parse_datetime(text: str, *, now: float | None = None) -> float:
    """Epoch seconds (local time) from ``[[CC]YY]MMDDhhmm[.SS]`` (qsub -a, qacct -b/-e).

    Without a year the current one is taken. A two-digit year follows Grid Engine (qsub -a
    of SGE 8.1.9 maps 69 to 2069 and 70 to 1970): 00-69 are the 2000s, 70-99 the 1900s.
    Like Grid Engine, a time before 1970 is refused.
    """
    import datetime as dt

    main, dot, seconds = text.strip().partition(".")
    if (
        not (main.isascii() and main.isdigit() and len(main) in (8, 10, 12))
        or (dot and not (seconds.isascii() and seconds.isdigit() and len(seconds) == 2))
    ):
        raise InvalidRequest(f'invalid date/time "{text}": expected [[CC]YY]MMDDhhmm[.SS]')
    century = main[-12:-10] or None
    year = main[-10:-8] or None
    month, day, hour, minute = main[-8:-6], main[-6:-4], main[-4:-2], main[-2:]
    second = seconds or None
    if year is None:
        full_year = dt.datetime.fromtimestamp(now if now is not None else _time_now()).year
    elif century is None:
        full_year = (2000 if int(year) < 70 else 1900) + int(year)
    else:
        full_year = int(century) * 100 + int(year)
    try:
        moment = dt.datetime(
            full_year, int(month), int(day), int(hour), int(minute), int(second or 0)
        )
        stamp = moment.timestamp()
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidRequest(f'invalid date/time "{text}": {exc}') from None
    if stamp < 0:
        raise InvalidRequest(f'invalid date/time "{text}": a time before 1970')
    return stamp


def _time_now() -> float:
    import time

    return time.time()


def parse_slot_range(text: str) -> tuple[int, int]:
    """A PE slot range ``n``, ``n-m``, ``-m`` (from 1) or ``n-`` (no upper bound)."""
    low, sep, high = text.partition("-")
    try:
        first = int(low) if low else 1
        last = (int(high) if high else INFINITE_SLOTS) if sep else first
    except ValueError:
        raise InvalidRequest(f'invalid slot range "{text}"') from None
    if first < 0 or last < max(first, 1):
        raise InvalidRequest(f'invalid slot range "{text}"')
    return first, last


def parse_task_range(text: str) -> tuple[int, int, int]:
    """An array's ``n[-m[:s]]``, the end kept as given (Grid Engine shows ``-t 1-4:2`` as
    ``1-4:2``; its tasks are 1 and 3)."""
    span, _, step_text = text.partition(":")
    low, sep, high = span.partition("-")
    try:
        first = int(low)
        last = int(high) if sep else first
        step = int(step_text) if step_text else 1
    except ValueError:
        raise InvalidRequest(f'invalid task range "{text}": expected n[-m[:s]]') from None
    if first < 1 or last < first or step < 1:
        raise InvalidRequest(f'invalid task range "{text}": expected 1 <= n <= m and s >= 1')
    return first, last, step
