"""Extra group IDs: one per job (task) on each host, from the host's ``gid_range``.

Two running jobs never share an ID: the pool skips the IDs its own live jobs hold (the
caller passes them, rebuilt from the spool after a restart), any ID some process on the
host still carries (a leftover of an earlier job that escaped its kill), and any ID another
exec daemon on the same machine reserved (several daemons may serve several host names on
one machine): a reservation is a file ``<gid>`` in ``/run/qsys/gids`` naming its owner (a
spool directory), created exclusively and removed when the ID is given back. A reservation
whose owner directory is gone (a daemon that died) is taken over.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from pathlib import Path

from execd import procs

RESERVATIONS = Path(os.environ.get("QSYS_GID_DIR", "/run/qsys/gids"))
STALE_AFTER = 60.0  # a reservation's owner directory is written at once; older without it: stale

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


def reserve(gid: int, owner: Path) -> bool:
    """Reserve ``gid`` on this machine for ``owner``; False when another owner holds it."""
    path = RESERVATIONS / str(gid)
    for _attempt in (1, 2, 3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileNotFoundError:  # made when missing, not before every reservation
            RESERVATIONS.mkdir(parents=True, exist_ok=True)
            continue
        except FileExistsError:
            try:
                holder = Path(path.read_text().strip())
                age = time.time() - path.stat().st_mtime
            except OSError:
                continue
            if holder == owner:
                return True
            if holder.exists() or age < STALE_AFTER:
                return False
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        try:
            os.write(fd, f"{owner}\n".encode())
        finally:
            os.close(fd)
        return True
    return False


def release(gid: int, owner: Path) -> None:
    """Give ``gid`` back (only the owner's reservation is removed)."""
    path = RESERVATIONS / str(gid)
    with contextlib.suppress(OSError):
        if Path(path.read_text().strip()) == owner:
            path.unlink()


_scan: tuple[float, set[int]] = (0.0, set())


def _carried_now(max_age: float = 1.0) -> set[int]:
    """Group IDs carried by live processes, from a process table scan at most ``max_age`` old.

    A job's shepherd kills every carrier of its ID before it ends and IDs are handed out in
    rotation, so a scan a moment old cannot hide a carrier of the ID chosen next; it saves
    the exec daemon a scan of /proc for every start of a burst of short jobs."""
    global _scan
    now = time.monotonic()
    if now - _scan[0] > max_age:
        _scan = (now, procs.gids_in_use())
    return _scan[1]


def allocate(range_text: str, held: Iterable[int], after: int = 0, owner: Path | None = None) -> int:
    """A free ID of ``range_text``: not in ``held`` and carried by no live process.

    The search starts after ``after`` (the last ID handed out), so a just-freed ID is not
    reused at once while stray processes of its job might still appear.
    """
    ids = parse_range(range_text) or parse_range(DEFAULT_RANGE)
    taken = set(held)
    carried = _carried_now()
    start = next((i for i, gid in enumerate(ids) if gid > after), 0)
    for gid in ids[start:] + ids[:start]:
        if gid not in taken and gid not in carried and (owner is None or reserve(gid, owner)):
            return gid
    raise GidPoolExhausted(f"all {len(ids)} IDs of gid_range {range_text} are in use")
