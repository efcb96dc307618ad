"""User set (``qconf -su``): an access list (ACL) and/or a department (DEPT)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qsys.objects.base import ConfigObject, attr
from qsys.objects.layout import KeyValueLayout
from qsys.objects.values import Choice, Int, Text, WordList


@dataclass
class UserSet(ConfigObject):
    kind = "userset"
    key = "name"
    layout = KeyValueLayout(width=8)

    name: str = attr(Text())
    type: list[str] = attr(WordList(item=Choice("ACL", "DEPT")), factory=lambda: ["ACL"])
    fshare: int = attr(Int(), 0)
    oticket: int = attr(Int(), 0)
    # user names, @unix_groups
    entries: list[str] = attr(WordList(sep=","), factory=list)

    def check(self) -> None:
        if not self.type:
            raise ValueError("type: must be ACL, DEPT or both")

    def admits(self, user: str, groups: Sequence[str] = ()) -> bool:
        """Whether ``user`` (member of unix ``groups``) is an entry of this set."""
        return user in self.entries or any("@" + g in self.entries for g in groups)


def default_usersets() -> list[UserSet]:
    """arusers, deadlineusers and defaultdepartment, as in a new Grid Engine cell."""
    return [UserSet("arusers", ["ACL"]), UserSet("deadlineusers", ["ACL"]),
            UserSet("defaultdepartment", ["DEPT"])]
