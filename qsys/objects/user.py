"""User (``qconf -suser``): a user's functional shares and override tickets, for the ticket
policies, and the project their jobs go to without ``-P``."""

from __future__ import annotations

from dataclasses import dataclass

from qsys.objects.base import ConfigObject, attr
from qsys.objects.layout import KeyValueLayout
from qsys.objects.project import valid_name
from qsys.objects.values import Int, NoneText, Text


@dataclass
class User(ConfigObject):
    kind = "user"
    key = "name"
    layout = KeyValueLayout(width=0)

    name: str = attr(Text())
    oticket: int = attr(Int(), 0)
    fshare: int = attr(Int(), 0)
    delete_time: int = attr(Int(), 0)  # when an automatically added user goes; 0: never
    default_project: str | None = attr(NoneText(), None)

    def check(self) -> None:
        if not valid_name(self.name):
            raise ValueError(f"name: '{self.name}' is not a valid user name")
