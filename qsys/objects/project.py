"""Project (``qconf -sprj``): jobs submitted with ``qsub -P`` inherit its functional shares
and override tickets; ``acl``/``xacl`` say who may submit to it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qsys.objects.base import ConfigObject, attr
from qsys.objects.layout import KeyValueLayout
from qsys.objects.userset import UserSet
from qsys.objects.values import Int, Text, WordList

_BAD_NAME = " \t,@[]=/!{}*?"


def valid_name(name: str) -> bool:
    """A name Grid Engine accepts for a project, checkpointing interface or quota set."""
    return bool(name) and not any(c in name for c in _BAD_NAME)


@dataclass
class Project(ConfigObject):
    kind = "project"
    key = "name"
    layout = KeyValueLayout(width=0)

    name: str = attr(Text())
    oticket: int = attr(Int(), 0)
    fshare: int = attr(Int(), 0)
    acl: list[str] = attr(WordList(), factory=list)
    xacl: list[str] = attr(WordList(), factory=list)

    def check(self) -> None:
        if not valid_name(self.name):
            raise ValueError(f"name: '{self.name}' is not a valid project name")

    def admits(self, user: str, groups: Sequence[str], usersets: Mapping[str, UserSet]) -> bool:
        """May ``user`` submit to this project? (In ``acl`` if it is set, never in ``xacl``.)"""
        def member(names: list[str]) -> bool:
            return any(name in usersets and usersets[name].admits(user, groups) for name in names)

        return (not self.acl or member(self.acl)) and not member(self.xacl)
