"""The Unix groups of a job owner, for the ``@group`` entries of access lists (quota
filters, departments, arusers)."""

from __future__ import annotations

import grp
import os
import pwd

_GROUPS: dict[str, tuple[str, ...]] = {}


def unix_groups(user: str) -> tuple[str, ...]:
    """The names of ``user``'s primary and supplementary groups, cached for the process."""
    found = _GROUPS.get(user)
    if found is None:
        try:
            names = []
            for gid in os.getgrouplist(user, pwd.getpwnam(user).pw_gid):
                try:
                    names.append(grp.getgrgid(gid).gr_name)
                except KeyError:
                    names.append(str(gid))
            found = tuple(names)
        except (KeyError, OSError):
            found = ()
        if len(_GROUPS) > 10000:
            _GROUPS.clear()
        _GROUPS[user] = found
    return found
