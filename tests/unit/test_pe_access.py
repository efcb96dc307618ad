"""PE access lists resolved to users (user_lists admit, xuser_lists exclude)."""

from __future__ import annotations

import grp
import os
import pwd

from qsys.master.pe import access
from qsys.objects.userset import UserSet


def test_lists_resolve_to_users() -> None:
    sets = {"team": UserSet("team", ["ACL"], entries=["alice", "bob"]),
            "banned": UserSet("banned", ["ACL"], entries=["bob"])}
    assert access("NONE", "NONE", sets) == (None, ())
    assert access("team", "banned", sets) == (("alice", "bob"), ("bob",))
    assert access("missing", "NONE", sets) == ((), ())  # an unknown list admits nobody


def test_group_entries_and_text_maps() -> None:
    me = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    users, _ = access("g", "NONE", {"g": {"entries": f"@{group}"}})
    assert users is not None and me in users
