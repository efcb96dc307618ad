"""Extra group IDs: one per job (task) on each host, from the host's ``gid_range``.

Two running jobs never share an ID: the pool skips the IDs its own live jobs hold (the
caller passes them, rebuilt from the spool after a restart) and any ID some process on the
host still carries (a leftover of an earlier job that escaped its kill).
"""

from __future__ import annotations

from collections.abc import Iterable

from execd import procs

DEFAULT_RANGE = "20000-20100"


def parse_range(text: str) -> list[int]:
    """``20000-20100`` or ``20000-20010,21000-21005`` as the list of IDs, in order."""
    out: list[int] = []
    for part in str(text or "").replace(" ", "").split(","):
        if not part or part.upper() == "NONE":
            continue
        low, sep, high = part.partition("-")
        try:
            first = int(low)
            last = int(high) if sep else first
        except ValueError:
            continue
        if 0 < first <= last:
            out.extend(range(first, last + 1))
    return out


class GidPoolExhausted(Exception):
    """Every ID of gid_range is held: the task cannot start now."""


def allocate(range_text: str, held: Iterable[int], after: int = 0) -> int:
    """A free ID of ``range_text``: not in ``held`` and carried by no live process.

    The search starts after ``after`` (the last ID handed out), so a just-freed ID is not
    reused at once while stray processes of its job might still appear.
    """
    ids = parse_range(range_text) or parse_range(DEFAULT_RANGE)
    taken = set(held)
    carried = procs.gids_in_use()
    start = next((i for i, gid in enumerate(ids) if gid > after), 0)
    for gid in ids[start:] + ids[:start]:
        if gid not in taken and gid not in carried:
            return gid
    raise GidPoolExhausted(f"all {len(ids)} IDs of gid_range {range_text} are in use")
