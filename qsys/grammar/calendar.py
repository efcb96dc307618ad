"""Grid Engine calendars: the ``year`` and ``week`` lines of calendar_conf(5), parsed with lark.

A calendar is a list of entries ``days[=times][=state]``; ``year`` entries name dates
(``24.12.2026``, ``1.1.2027-6.1.2027``), ``week`` entries weekdays (``mon-fri``). Times are
``hh[:mm[:ss]]-hh[:mm[:ss]]`` ranges (a range may pass midnight); the state is ``on``,
``off`` (the default: disabled) or ``suspended``. At a given time a matching year entry
wins over a week entry; with no match the queue is on. :func:`next_change` finds the next
instant the state flips, so the master can sleep until then.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from qsys.errors import InvalidRequest

ON, OFF, SUSPENDED = "on", "off", "suspended"

_GRAMMAR = r"""
start: "NONE"i -> none
     | entry+
entry: days ("=" times)? ("=" STATE)?
     | times ("=" STATE)?
     | STATE
days: dayrange ("," dayrange)*
dayrange: day ("-" day)?
day: DATE | WEEKDAY
times: timerange ("," timerange)*
timerange: TIME "-" TIME
DATE.2: /\d{1,2}\.(\d{1,2}|[a-zA-Z]{3})\.\d{4}/
WEEKDAY.2: /(mon|tue|wed|thu|fri|sat|sun)/i
TIME: /\d{1,2}(:\d{1,2}){0,2}/
STATE.3: /(on|off|suspended)\b/i
%ignore /[ \t]+/
"""

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry: day ranges (dates as ordinals, or weekdays 0-6), time ranges in
    seconds of the day, and the state they give."""

    days: tuple[tuple[int, int], ...]  # empty: every day
    times: tuple[tuple[int, int], ...]  # empty: the whole day
    state: str

    def day_matches(self, day: int) -> bool:
        if not self.days:
            return True
        for low, high in self.days:
            if low <= high and low <= day <= high:
                return True
            if low > high and (day >= low or day <= high):  # fri-mon wraps the week
                return True
        return False

    def time_matches(self, second: int) -> bool:
        if not self.times:
            return True
        for low, high in self.times:
            if low <= high and low <= second < high:
                return True
            if low > high and (second >= low or second < high):
                return True
        return False


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed calendar."""

    year: tuple[Entry, ...] = ()
    week: tuple[Entry, ...] = ()
    boundaries: tuple[int, ...] = field(default=())  # seconds of the day where ranges start/end

    def state_at(self, when: float) -> str:
        """``on``, ``off`` or ``suspended`` at epoch ``when`` (local time)."""
        moment = _dt.datetime.fromtimestamp(when)
        second = moment.hour * 3600 + moment.minute * 60 + moment.second
        ordinal = moment.date().toordinal()
        for entry in self.year:
            if entry.day_matches(ordinal) and entry.time_matches(second):
                return entry.state
        weekday = moment.weekday()
        for entry in self.week:
            if entry.day_matches(weekday) and entry.time_matches(second):
                return entry.state
        return ON

    def next_change(self, when: float, horizon_days: int = 400) -> float | None:
        """The first instant after ``when`` with another state (None: never, within the horizon)."""
        current = self.state_at(when)
        start = _dt.datetime.fromtimestamp(when)
        day0 = _dt.datetime(start.year, start.month, start.day)
        marks = sorted(set(self.boundaries) | {0})
        for offset in range(horizon_days + 1):
            base = day0 + _dt.timedelta(days=offset)
            for second in marks:
                instant = (base + _dt.timedelta(seconds=second)).timestamp()
                if instant <= when:
                    continue
                if self.state_at(instant) != current:
                    return instant
        return None


def _seconds(text: str) -> int:
    parts = [int(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.append(0)
    hours, minutes, seconds = parts
    if hours > 24 or minutes > 59 or seconds > 59:
        raise InvalidRequest(f'invalid time of day "{text}"')
    return min(hours * 3600 + minutes * 60 + seconds, 86400)


def _date_ordinal(text: str) -> int:
    day, month, year = text.split(".")
    month_no = int(month) if month.isdigit() else _MONTHS.index(month.lower()) + 1
    try:
        return _dt.date(int(year), month_no, int(day)).toordinal()
    except ValueError:
        raise InvalidRequest(f'invalid date "{text}"') from None


@lru_cache(maxsize=1)
def _parser() -> Any:
    from lark import Lark

    return Lark(_GRAMMAR, parser="earley")


def _entries(text: str | None, kind: str) -> tuple[list[Entry], set[int]]:
    from lark import Token, Tree
    from lark.exceptions import LarkError

    if not text or text.strip().upper() == "NONE":
        return [], set()
    try:
        tree = _parser().parse(text.strip())
    except LarkError as exc:
        raise InvalidRequest(f'{kind}: cannot parse "{text}": {str(exc).splitlines()[0]}') from None
    entries: list[Entry] = []
    marks: set[int] = set()
    for node in tree.children:
        assert isinstance(node, Tree)
        days: list[tuple[int, int]] = []
        times: list[tuple[int, int]] = []
        state = OFF
        for part in node.children:
            if isinstance(part, Token):
                state = part.value.lower()
            elif part.data == "days":
                for rng in part.children:
                    assert isinstance(rng, Tree)
                    values = []
                    for day in rng.children:
                        assert isinstance(day, Tree)
                        token = day.children[0]
                        assert isinstance(token, Token)
                        if token.type == "DATE":
                            if kind != "year":
                                raise InvalidRequest(f'week: a date ("{token}") is not a weekday')
                            values.append(_date_ordinal(token.value))
                        else:
                            if kind != "week":
                                raise InvalidRequest(f'year: a weekday ("{token}") is not a date')
                            values.append(_WEEKDAYS.index(token.value.lower()))
                    low, high = values[0], values[-1]
                    if kind == "year" and high < low:
                        raise InvalidRequest(f"year: range ends before it begins in \"{text}\"")
                    days.append((low, high))
            else:
                for rng in part.children:
                    assert isinstance(rng, Tree)
                    a, b = (_seconds(str(t)) for t in rng.children)
                    times.append((a, b))
                    marks.update((a % 86400, b % 86400))
        entries.append(Entry(tuple(days), tuple(times), state))
    return entries, marks


def parse_calendar(year: str | None, week: str | None) -> Schedule:
    """The schedule of a calendar's ``year`` and ``week`` values; InvalidRequest when malformed."""
    year_entries, year_marks = _entries(year, "year")
    week_entries, week_marks = _entries(week, "week")
    return Schedule(tuple(year_entries), tuple(week_entries), tuple(sorted(year_marks | week_marks)))

