"""What of the master's files nobody but the master may read, made so before it starts.

The store holds every job's environment (``qsub -V`` exports secrets), its scripts and the
cell's configuration; its log names users, hosts and jobs. So the master's spool is 0711
(others pass through to the Unix socket, which decides who may talk) and its files are
0600, including an SQLite store's write-ahead log and shared memory, which SQLite creates
with the mode of the database file. The master also runs with umask 077, so a file it
forgets to name here is private too; what others must read (bootstrap, accounting file,
act_qmaster) is given its mode where it is written.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

SPOOL_MODE = 0o711
FILE_MODE = 0o600
UMASK = 0o077


def sqlite_path(store_url: str) -> Path | None:
    """The database file of an SQLite store URL (None for another store or in memory)."""
    prefix = "sqlite:///"
    if not store_url.startswith(prefix) or store_url[len(prefix):] in ("", ":memory:"):
        return None
    return Path(store_url[len(prefix):].split("?")[0])


def make_private(spool: Path, store_url: str) -> None:
    """The spool traversable only, the store's files (made now if missing) and every other
    regular file of the spool readable by the owner alone."""
    spool.mkdir(parents=True, exist_ok=True)
    os.chmod(spool, SPOOL_MODE)
    db = sqlite_path(store_url)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT, FILE_MODE))
        for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(path, FILE_MODE)
    for path in spool.iterdir():
        if path.is_file() and not path.is_symlink():
            os.chmod(path, FILE_MODE)
