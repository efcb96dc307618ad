"""Calendar (``qconf -scal``): when queues are enabled, disabled or suspended.

The year/week expressions are kept as text here; their grammar lives in ``qsys.grammar``.
"""

from __future__ import annotations

from dataclasses import dataclass

from qsys.objects.base import ConfigObject, attr
from qsys.objects.layout import KeyValueLayout
from qsys.objects.values import NoneText, Text


@dataclass
class Calendar(ConfigObject):
    kind = "calendar"
    key = "calendar_name"
    layout = KeyValueLayout(width=17)

    calendar_name: str = attr(Text())
    year: str | None = attr(NoneText(), None)
    week: str | None = attr(NoneText(), None)

    def check(self) -> None:
        if not self.calendar_name or any(c in self.calendar_name for c in " \t,@[]=/"):
            raise ValueError(f"calendar_name: '{self.calendar_name}' is not a valid name")
        from qsys.errors import InvalidRequest
        from qsys.grammar.calendar import parse_calendar

        try:
            parse_calendar(self.year, self.week)
        except InvalidRequest as exc:
            raise ValueError(exc.message) from None
