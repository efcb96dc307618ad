"""User set (``qconf -su``): an access list (ACL) and/or a department (DEPT)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


DEFAULT_DEPARTMENT = "defaultdepartment"


def department_of(user: str, groups: Sequence[str], usersets: Iterable[UserSet]) -> str:
    """The department (a user set of type DEPT) ``user`` belongs to; users in none belong to
    ``defaultdepartment``, as in Grid Engine."""
    for userset in usersets:
        if "DEPT" in userset.type and userset.name != DEFAULT_DEPARTMENT and userset.admits(user, groups):
            return userset.name
    return DEFAULT_DEPARTMENT


def check_departments(usersets: Iterable[UserSet]) -> None:
    """A user may be in one department only: raise ValueError naming a user listed in two."""
    owner: dict[str, str] = {}
    for userset in usersets:
        if "DEPT" not in userset.type:
            continue
        for entry in userset.entries:
            if entry in owner and owner[entry] != userset.name:
                raise ValueError(f'entries: "{entry}" is already in department "{owner[entry]}"')
            owner[entry] = userset.name


def default_usersets() -> list[UserSet]:
    """arusers, deadlineusers and defaultdepartment, as in a new Grid Engine cell."""
    return [UserSet("arusers", ["ACL"]), UserSet("deadlineusers", ["ACL"]),
            UserSet("defaultdepartment", ["DEPT"])]
