"""The store's tables: each row is an opaque msgpack record plus the few columns we index.

The master keeps all state in memory, so the database only has to give it back on start-up
and answer accounting queries; that is why records stay blobs and only keys, owners, states,
hosts and end times are real columns.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", Integer, primary_key=True, autoincrement=False),
    Column("owner", String(255), nullable=False),
    Column("state", String(32), nullable=False),
    Column("record", LargeBinary, nullable=False),
    Index("ix_jobs_owner", "owner"),
    Index("ix_jobs_state", "state"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("job_id", Integer, primary_key=True, autoincrement=False),
    Column("task_id", Integer, primary_key=True, autoincrement=False),
    Column("state", String(32), nullable=False),
    Column("host", String(255), nullable=True),
    Column("record", LargeBinary, nullable=False),
    Index("ix_tasks_state", "state"),
    Index("ix_tasks_host", "host"),
)

objects = Table(
    "objects",
    metadata,
    Column("kind", String(64), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("record", LargeBinary, nullable=False),
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid; PostgreSQL gets a 64-bit key
# because accounting grows forever.
accounting = Table(
    "accounting",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("job_id", Integer, nullable=False),
    Column("task_id", Integer, nullable=False),
    Column("owner", String(255), nullable=False),
    Column("end_time", Float, nullable=False),
    Column("record", LargeBinary, nullable=False),
    Index("ix_accounting_job", "job_id"),
    Index("ix_accounting_owner", "owner"),
    Index("ix_accounting_end_time", "end_time"),
)

# The active master's lease (one row, name "qmaster", in cells with master candidates): who
# holds it, its epoch (raised by every new holder: the fence) and a beat raised by every
# renewal (what a shadow watches). See qsys.store.lease.
master_lease = Table(
    "master_lease",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("epoch", BigInteger, nullable=False),
    Column("beat", BigInteger, nullable=False),
    Column("holder", String(255), nullable=False),  # "" once released by a master that stopped
    Column("address", String(300), nullable=False),  # host:port where the holder serves
    Column("pid", Integer, nullable=False),
    Column("term", Float, nullable=False),  # seconds a renewal keeps the lease, as the holder counts
)
