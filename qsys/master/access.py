"""Grid Engine's access rule for users: a user may use an object (queue, exec host, PE,
project, the cluster) when it is in one of the object's ``user_lists`` (if it names any) and in
none of its ``xuser_lists``; a user set names users and ``@group``s. (The rule for projects
is the scheduler's: ``qsys.sched.matching``.)"""

from __future__ import annotations

import grp
import pwd
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qsys.objects import UserSet


def unix_groups(user: str) -> list[str]:
    """The names of the unix groups ``user`` belongs to (primary group included)."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return []
    names = [g.gr_name for g in grp.getgrall() if user in g.gr_mem]
    try:
        names.append(grp.getgrgid(entry.pw_gid).gr_name)
    except KeyError:
        pass
    return names


def user_admitted(user: str, groups: Sequence[str], allow: Sequence[str], deny: Sequence[str],
                  usersets: Mapping[str, UserSet]) -> bool:
    """In one of ``allow`` (when it names any), in none of ``deny``."""
    def member(names: Sequence[str]) -> bool:
        return any(name in usersets and usersets[name].admits(user, groups) for name in names)

    return not member(deny) and (not allow or member(allow))

