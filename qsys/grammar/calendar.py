"""Grid Engine calendars: the ``year`` and ``week`` entries of ``qconf -scal`` parsed (lark)
into plain tuples, with the numbers checked (a 13th month or 25 o'clock is refused).

An entry says when a queue is ``on``, ``off`` (disabled) or ``suspended``: on given dates
(year) or weekdays (week), optionally only within day-time ranges. An entry without a state
means ``off``, as in Grid Engine. Times are seconds since midnight; 24 is the end of a day.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from qsys.errors import InvalidRequest

if TYPE_CHECKING:
    from lark import Lark, Tree

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Date = tuple[int, int, int]  # (year, month, day)


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    """One entry; ``days`` are date ranges (year) or weekday-number ranges 0=mon (week);
    empty ``days`` means every day, empty ``times`` the whole day."""

    days: tuple[tuple[Any, Any], ...]
    times: tuple[tuple[int, int], ...]
    state: str


@lru_cache(maxsize=1)
def _parser() -> Lark:
    from lark import Lark

    text = resources.files("qsys.grammar").joinpath("calendar.lark").read_text(encoding="utf-8")
    return Lark(text, start=["year_entry", "week_entry"], parser="earley")


def _time(node: Tree) -> int:
    parts = [int(str(tok)) for tok in node.children]
    hours, minutes, seconds = (parts + [0, 0])[:3]
    if hours > 24 or minutes > 59 or seconds > 59 or (hours == 24 and (minutes or seconds)):
        raise ValueError(f"'{':'.join(map(str, parts))}' is not a time of day")
    return hours * 3600 + minutes * 60 + seconds


def _date(node: Tree) -> Date:
    day, month, year = (int(str(tok)) for tok in node.children)
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise ValueError(f"'{day}.{month}.{year}' is not a date")
    return (year if year >= 100 else 2000 + year, month, day)


def _entry(tree: Tree) -> CalendarEntry:
    days: list[tuple[Any, Any]] = []
    times: list[tuple[int, int]] = []
    state = "off"
    for part in tree.children:
        kind = part.data
        if kind == "dates":
            for rng in part.children:
                dates = [_date(d) for d in rng.children]
                days.append((dates[0], dates[-1]))
        elif kind == "weekdays":
            for rng in part.children:
                numbers = [WEEKDAYS.index(str(tok)) for tok in rng.children]
                days.append((numbers[0], numbers[-1]))
        elif kind == "times":
            for rng in part.children:
                start, end = (_time(t) for t in rng.children)
                times.append((start, end))
        elif kind == "state":
            state = str(part.children[0])
    return CalendarEntry(tuple(days), tuple(times), state)


def parse_calendar(text: str | None, which: str) -> list[CalendarEntry]:
    """The entries of a ``year`` or ``week`` value (None or NONE: no entries).

    Raises :class:`InvalidRequest` naming the entry and what is wrong with it.
    """
    if text is None or text.strip().upper() == "NONE":
        return []
    from lark.exceptions import LarkError

    out = []
    for word in text.split():
        try:
            out.append(_entry(_parser().parse(word, start=f"{which}_entry")))
        except LarkError:
            raise InvalidRequest(f"{which}: '{word}' is not a {which} calendar entry") from None
        except ValueError as exc:
            raise InvalidRequest(f"{which}: {exc}") from None
    return out
