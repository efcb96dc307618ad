"""The master's durable state on SQLite (embedded default) or PostgreSQL.

Only the master imports this package: it pulls in SQLAlchemy (and the writer, asyncio).
"""

from __future__ import annotations

from qsys.store.image import Image
from qsys.store.store import (
    AddAccounting,
    Change,
    DeleteJob,
    DeleteObject,
    DeleteTask,
    Loaded,
    PutJob,
    PutObject,
    PutTask,
    SetCounter,
    Store,
    StoreError,
    StoreUnavailable,
    normalize_url,
)
from qsys.store.writer import GroupCommitter

__all__ = [
    "AddAccounting",
    "Change",
    "DeleteJob",
    "DeleteObject",
    "DeleteTask",
    "GroupCommitter",
    "Image",
    "Loaded",
    "PutJob",
    "PutObject",
    "PutTask",
    "SetCounter",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "normalize_url",
]
