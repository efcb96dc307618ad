"""The durable copy of the master's state: batches of changes in, everything back on start-up.

The master keeps all state in memory and hands the store a batch of changes before it answers
a request; one batch is one transaction. A batch is first folded into its net effect per key
(the last put or delete wins), so the database sees a few executemany statements per table
instead of one statement per change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, case, create_engine, event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from qsys.errors import QsysError
from qsys.store import schema
from qsys.store.image import Image, pack, unpack

log = logging.getLogger("qsys.store")

Record = dict[str, Any]


class StoreError(QsysError):
    """The database refused or failed a read or a write; ``reason`` is the database's own
    words (one line, without the statement)."""

    def __init__(self, message: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class StoreUnavailable(StoreError):
    """The database cannot be reached: writes are refused at once until it answers again."""


def reason_of(exc: BaseException) -> str:
    """What the database said, on one line (SQLAlchemy appends the statement and a link)."""
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
    first = lines[0] if lines else type(inner).__name__
    return first.split(" [SQL:", 1)[0][:500]


# ------------------------------------------------------------------ changes


@dataclass(slots=True)
class PutJob:
    job_id: int
    owner: str
    state: str
    record: Record


@dataclass(slots=True)
class DeleteJob:
    """Removes the job and every task row it still has."""

    job_id: int


@dataclass(slots=True)
class PutTask:
    job_id: int
    task_id: int
    state: str
    host: str | None
    record: Record


@dataclass(slots=True)
class DeleteTask:
    job_id: int
    task_id: int


@dataclass(slots=True)
class PutObject:
    kind: str
    name: str
    record: Record


@dataclass(slots=True)
class DeleteObject:
    kind: str
    name: str


@dataclass(slots=True)
class SetCounter:
    """Raises a counter; a lower value than the stored one is ignored (job ids never go back)."""

    name: str
    value: int


@dataclass(slots=True)
class AddAccounting:
    job_id: int
    task_id: int
    owner: str
    end_time: float
    record: Record


Change = PutJob | DeleteJob | PutTask | DeleteTask | PutObject | DeleteObject | SetCounter | AddAccounting


@dataclass(slots=True)
class Loaded:
    """Everything the store holds except the accounting records themselves."""

    jobs: dict[int, Record] = field(default_factory=dict)
    tasks: dict[tuple[int, int], Record] = field(default_factory=dict)
    objects: dict[tuple[str, str], Record] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    accounting_count: int = 0


# ------------------------------------------------------------------ folding a batch


@dataclass(slots=True)
class _Net:
    """The net effect of a batch: per key the final row, or None for a delete."""

    jobs: dict[int, dict[str, Any] | None] = field(default_factory=dict)
    wiped_jobs: set[int] = field(default_factory=set)
    tasks: dict[tuple[int, int], dict[str, Any] | None] = field(default_factory=dict)
    objects: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    accounting: list[dict[str, Any]] = field(default_factory=list)


def _fold(changes: Iterable[Change]) -> _Net:
    net = _Net()
    for ch in changes:
        if isinstance(ch, PutTask):
            net.tasks[(ch.job_id, ch.task_id)] = {
                "job_id": ch.job_id, "task_id": ch.task_id, "state": ch.state,
                "host": ch.host, "record": pack(ch.record),
            }
        elif isinstance(ch, PutJob):
            net.jobs[ch.job_id] = {
                "job_id": ch.job_id, "owner": ch.owner, "state": ch.state, "record": pack(ch.record),
            }
        elif isinstance(ch, DeleteTask):
            net.tasks[(ch.job_id, ch.task_id)] = None
        elif isinstance(ch, DeleteJob):
            net.jobs[ch.job_id] = None
            net.wiped_jobs.add(ch.job_id)
            # Task puts earlier in the batch die with the job; later ones survive the wipe,
            # which runs before every task upsert.
            for key in [k for k in net.tasks if k[0] == ch.job_id]:
                del net.tasks[key]
        elif isinstance(ch, PutObject):
            net.objects[(ch.kind, ch.name)] = {"kind": ch.kind, "name": ch.name, "record": pack(ch.record)}
        elif isinstance(ch, DeleteObject):
            net.objects[(ch.kind, ch.name)] = None
        elif isinstance(ch, SetCounter):
            net.counters[ch.name] = max(ch.value, net.counters.get(ch.name, ch.value))
        elif isinstance(ch, AddAccounting):
            net.accounting.append({
                "job_id": ch.job_id, "task_id": ch.task_id, "owner": ch.owner,
                "end_time": float(ch.end_time), "record": pack(ch.record),
            })
        else:
            raise TypeError(f"not a store change: {ch!r}")
    return net


# ------------------------------------------------------------------ engine


def normalize_url(url: str) -> URL:
    """Plain postgresql:// (or postgres://) means psycopg 3; sqlite:// stays pysqlite."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"unsupported store URL {url!r}: use sqlite:///PATH or postgresql://...")
    return parsed


def _sqlite_engine(url: URL) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin, so reads in load()
        # share one snapshot and writes take the lock up front (BEGIN IMMEDIATE).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit we acknowledge survives power loss, not only a crash of the process.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


class Store:
    """One database (SQLite or PostgreSQL) holding jobs, tasks, objects, counters and accounting."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(self.url)
            self._insert: Any = sqlite.insert
        else:
            # a bounded connect: a store that is away must not hold a commit for minutes
            self.engine = create_engine(self.url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
            self._insert = postgresql.insert
        self._statements: dict[str, Any] = {}
        self._driver: dict[str, tuple[str, list[str] | None]] = {}  # name -> driver SQL, parameter order
        self.image = Image()  # what the database holds (see qsys.store.image)
        # run first inside every write transaction; raises to refuse the batch (the master's
        # lease check: qsys.store.lease.check_epoch)
        self.fence: Callable[[Connection], None] | None = None

    @property
    def url_for_log(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def create(self) -> None:
        """Create the tables that are missing (idempotent)."""
        try:
            schema.metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot create the store at {self.url_for_log}: {reason_of(exc)}") from exc

    def close(self) -> None:
        self.engine.dispose()

    # -------------------------------------------------------------- writing

    def _write_connection(self) -> Connection:
        conn = self.engine.connect()
        if self.dialect == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        return conn

    def apply(self, changes: Sequence[Change]) -> None:
        """Make a batch durable in one transaction; on error nothing of it is written."""
        if not changes:
            return
        net = _fold(changes)
        try:
            with self._write_connection() as conn, conn.begin():
                if self.fence is not None:
                    self.fence(conn)
                self._write(conn, net)
        except SQLAlchemyError as exc:
            reason = reason_of(exc)
            raise StoreError(f"store write failed: {reason}", reason) from exc
        self.image.absorb(net.wiped_jobs, net.jobs.items(), net.tasks.items(), net.objects.items(),
                          net.counters.items())

    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers a trivial query now."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            reason = reason_of(exc)
            raise StoreUnavailable(f"the store at {self.url_for_log} is not available: {reason}", reason) from exc

    def _write(self, conn: Connection, net: _Net) -> None:
        st = self._stmts()
        if net.wiped_jobs:
            self._many(conn, "wipe_tasks", [{"k_job": j} for j in net.wiped_jobs])
        deletes, puts = _split(net.jobs.items(), ("k_job",))
        self._many(conn, "del_job", deletes)
        self._many(conn, "put_job", puts)
        deletes, puts = _split(net.tasks.items(), ("k_job", "k_task"))
        self._many(conn, "del_task", deletes)
        self._many(conn, "put_task", puts)
        deletes, puts = _split(net.objects.items(), ("k_kind", "k_name"))
        if deletes:
            conn.execute(st["del_object"], deletes)
        if puts:
            conn.execute(st["put_object"], puts)
        if net.counters:
            conn.execute(st["put_counter"], [{"name": n, "value": v} for n, v in net.counters.items()])
        if net.accounting:
            conn.execute(st["add_accounting"], net.accounting)

    def _many(self, conn: Connection, name: str, rows: list[dict[str, Any]]) -> None:
        """One executemany of a hot statement straight on the driver, compiled once: a
        dispatch writes two rows, and SQLAlchemy's per-row work was most of the write."""
        if not rows:
            return
        found = self._driver.get(name)
        if found is None:
            compiled = self._stmts()[name].compile(dialect=self.engine.dialect)
            order = list(compiled.positiontup) if compiled.positional and compiled.positiontup else None
            found = self._driver[name] = (str(compiled), order)
        sql, order = found
        params: Any = [tuple(row[n] for n in order) for row in rows] if order is not None else rows
        conn.exec_driver_sql(sql, params)

    def _stmts(self) -> dict[str, Any]:
        """Statements built once per store: compiling them is a noticeable part of a small batch."""
        if not self._statements:
            s = schema
            self._statements = {
                "wipe_tasks": s.tasks.delete().where(s.tasks.c.job_id == bindparam("k_job")),
                "del_job": s.jobs.delete().where(s.jobs.c.job_id == bindparam("k_job")),
                "del_task": s.tasks.delete().where(
                    (s.tasks.c.job_id == bindparam("k_job")) & (s.tasks.c.task_id == bindparam("k_task"))),
                "del_object": s.objects.delete().where(
                    (s.objects.c.kind == bindparam("k_kind")) & (s.objects.c.name == bindparam("k_name"))),
                "put_job": self._upsert(s.jobs, ["job_id"]),
                "put_task": self._upsert(s.tasks, ["job_id", "task_id"]),
                "put_object": self._upsert(s.objects, ["kind", "name"]),
                "put_counter": self._counter_upsert(),
                "add_accounting": s.accounting.insert(),
            }
        return self._statements

    def _upsert(self, table: Table, keys: list[str]) -> Any:
        stmt = self._insert(table)
        rest = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
        return stmt.on_conflict_do_update(index_elements=keys, set_=rest)

    def _counter_upsert(self) -> Any:
        stmt = self._insert(schema.counters)
        old, new = schema.counters.c.value, stmt.excluded.value
        return stmt.on_conflict_do_update(
            index_elements=["name"], set_={"value": case((new > old, new), else_=old)})

    # -------------------------------------------------------------- reading

    def _read_connection(self) -> Connection:
        conn = self.engine.connect()
        if self.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        return conn

    def load(self) -> Loaded:
        """Everything the master needs to rebuild its memory, read from one snapshot."""
        s = schema
        out = Loaded()
        image = Image()
        try:
            with self._read_connection() as conn, conn.begin():
                for job_id, blob in conn.execute(select(s.jobs.c.job_id, s.jobs.c.record)):
                    image.jobs[job_id] = blob = bytes(blob)
                    out.jobs[job_id] = unpack(blob)
                rows = conn.execute(select(s.tasks.c.job_id, s.tasks.c.task_id, s.tasks.c.record))
                for job_id, task_id, blob in rows:
                    image.tasks.setdefault(job_id, {})[task_id] = blob = bytes(blob)
                    out.tasks[(job_id, task_id)] = unpack(blob)
                rows = conn.execute(select(s.objects.c.kind, s.objects.c.name, s.objects.c.record))
                for kind, name, blob in rows:
                    image.objects[(kind, name)] = blob = bytes(blob)
                    out.objects[(kind, name)] = unpack(blob)
                for name, value in conn.execute(select(s.counters.c.name, s.counters.c.value)):
                    out.counters[name] = image.counters[name] = int(value)
                out.accounting_count = int(conn.execute(select(func.count()).select_from(s.accounting)).scalar_one())
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot load the store at {self.url_for_log}: {reason_of(exc)}") from exc
        self.image = image
        return out

    def accounting(self, job_id: int | None = None, owner: str | None = None,
                   since: float | None = None) -> list[Record]:
        """Accounting records in the order the tasks ended, optionally filtered."""
        t = schema.accounting
        query = select(t.c.record).order_by(t.c.end_time, t.c.id)
        if job_id is not None:
            query = query.where(t.c.job_id == job_id)
        if owner is not None:
            query = query.where(t.c.owner == owner)
        if since is not None:
            query = query.where(t.c.end_time >= since)
        try:
            with self._read_connection() as conn, conn.begin():
                return [unpack(blob) for (blob,) in conn.execute(query)]
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read accounting: {reason_of(exc)}") from exc


def _split(items: Iterable[tuple[Any, dict[str, Any] | None]],
           key_names: tuple[str, ...]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The deletes (keys) and the upserts (rows) of one table."""
    deletes: list[dict[str, Any]] = []
    puts: list[dict[str, Any]] = []
    for key, row in items:
        if row is None:
            parts = key if isinstance(key, tuple) else (key,)
            deletes.append(dict(zip(key_names, parts, strict=True)))
        else:
            puts.append(row)
    return deletes, puts
