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
