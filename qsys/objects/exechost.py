"""Exec host (``qconf -se``): per-host resources, access lists and the reported load."""

from __future__ import annotations

from dataclasses import dataclass

from qsys.objects.base import ConfigObject, attr
from qsys.objects.layout import KeyValueLayout
from qsys.objects.values import Int, NameValues, Text, WordList


@dataclass
class ExecHost(ConfigObject):
    kind = "exechost"
    key = "hostname"
    layout = KeyValueLayout(width=22)

    hostname: str = attr(Text())
    load_scaling: dict[str, str] = attr(NameValues(), factory=dict)
    complex_values: dict[str, str] = attr(NameValues(), factory=dict)
    # reported by the exec daemon; shown, never set by an edit (see base.keep_readonly)
    load_values: dict[str, str] = attr(NameValues(), factory=dict, readonly=True)
    processors: int = attr(Int(), 0, readonly=True)
    user_lists: list[str] = attr(WordList(), factory=list)
    xuser_lists: list[str] = attr(WordList(), factory=list)
    projects: list[str] = attr(WordList(), factory=list)
    xprojects: list[str] = attr(WordList(), factory=list)
    usage_scaling: dict[str, str] = attr(NameValues(), factory=dict)
    report_variables: list[str] = attr(WordList(sep=","), factory=list)

    def check(self) -> None:
        if not self.hostname or any(c in self.hostname for c in " \t,@[]=/"):
            raise ValueError(f"hostname: '{self.hostname}' is not a valid host name")
        for name, value in self.load_scaling.items():
            try:
                float(value)
            except ValueError:
                raise ValueError(f"load_scaling: {name}={value}: not a number") from None
