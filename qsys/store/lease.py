"""The master's lease in the store: one row, changed only by conditional statements.

Every statement that changes the row says what it expects to find (the epoch it holds, or
the epoch and beat it saw), so two shadows cannot both take the lease over and a master
that lost it cannot renew it. The master's commits check the epoch inside their own
transaction (:func:`check_epoch`, ``FOR SHARE`` on PostgreSQL): a takeover waits for a
commit in flight, and a commit after a takeover fails, so no write of an old master lands
once a new one holds the lease.

The decisions (when a lease counts as expired, when to renew) are ``qsys.master.lease``'s;
this module only reads and writes the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from qsys.errors import QsysError
from qsys.store import schema
from qsys.store.store import StoreError, normalize_url

LEASE_NAME = "qmaster"


class LeaseLost(QsysError):
    """Another master holds the lease now (a newer epoch): this master must stop.

    Not a StoreError: a store that cannot be reached is worth retrying, a lost lease never."""


@dataclass(frozen=True)
class LeaseRow:
    epoch: int
    beat: int
    holder: str  # "" once released
    address: str
    pid: int
    term: float

    @property
    def released(self) -> bool:
        return not self.holder


@dataclass(frozen=True)
class Claimant:
    """Who asks for the lease: host name, the address it serves on, its pid, its term."""

    holder: str
    address: str
    pid: int
    term: float


def guard_sessions(engine: Engine, idle_ms: int) -> None:
    """Make PostgreSQL end a session of ``engine`` that sits inside a transaction for
    ``idle_ms`` (a master stopped or cut off mid-commit): its locks, among them the share
    lock of :func:`check_epoch` on the lease row, must not keep a shadow from taking over."""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "do_connect")
    def _options(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        extra = f"-c idle_in_transaction_session_timeout={idle_ms} -c tcp_user_timeout={idle_ms}"
        cparams["options"] = f"{cparams.get('options', '')} {extra}".strip()


def check_epoch(conn: Connection, epoch: int) -> None:
    """Inside a commit's transaction: raise LeaseLost unless ``epoch`` still holds the lease."""
    lease = schema.master_lease
    query = select(lease.c.epoch, lease.c.holder).where(lease.c.name == LEASE_NAME).with_for_update(read=True)
    found = conn.execute(query).first()
    if found is None or found.epoch != epoch:
        holder = f"{found.holder or 'nobody'} (epoch {found.epoch})" if found is not None else "nobody"
        raise LeaseLost(f"the master lease passed to {holder}; this master held epoch {epoch}")


class LeaseTable:
    """The lease row of one store, over an engine of its own with short network timeouts
    (a renewal must fail in seconds when the store is cut off, not after TCP gives up)."""

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        parsed = normalize_url(url)
        if parsed.get_backend_name() == "postgresql":
            ms = int(timeout * 1000)
            args = {"connect_timeout": max(1, int(timeout)), "tcp_user_timeout": ms,
                    "keepalives": 1, "keepalives_idle": 1, "keepalives_interval": 1, "keepalives_count": 2}
            self.engine = create_engine(parsed, pool_size=1, max_overflow=2, pool_pre_ping=True,
                                        pool_timeout=timeout, connect_args=args)
            guard_sessions(self.engine, ms)
            self._lock_timeout = ms
        else:
            self.engine = create_engine(parsed, connect_args={"timeout": timeout})
            self._lock_timeout = 0

    def close(self) -> None:
        self.engine.dispose()

    def create(self) -> None:
        try:
            schema.master_lease.create(self.engine, checkfirst=True)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot create the lease table: {exc}") from exc

    def read(self) -> LeaseRow | None:
        lease = schema.master_lease
        query = select(lease.c.epoch, lease.c.beat, lease.c.holder, lease.c.address, lease.c.pid,
                       lease.c.term).where(lease.c.name == LEASE_NAME)
        try:
            with self.engine.connect() as conn:
                row = conn.execute(query).first()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the master lease: {exc}") from exc
        if row is None:
            return None
        return LeaseRow(int(row.epoch), int(row.beat), row.holder, row.address, int(row.pid), float(row.term))

    def take(self, seen: LeaseRow | None, me: Claimant) -> LeaseRow | None:
        """Take the lease if the row is still what we saw (``None``: there was none); the new
        row with the next epoch, or None when someone changed it first."""
        lease = schema.master_lease
        values = {"holder": me.holder, "address": me.address, "pid": me.pid, "term": me.term, "beat": 0}
        epoch = 1 if seen is None else seen.epoch + 1
        if seen is None:
            stmt: Any = insert(lease).values(name=LEASE_NAME, epoch=epoch, **values)
        else:
            stmt = (update(lease).where(lease.c.name == LEASE_NAME, lease.c.epoch == seen.epoch,
                                        lease.c.beat == seen.beat).values(epoch=epoch, **values))
        try:
            with self.engine.begin() as conn:
                self._short_locks(conn)
                result = conn.execute(stmt)
                # an insert either raises (the row exists) or made the row; its rowcount is
                # not reported by every driver
                changed = 1 if seen is None else result.rowcount
        except SQLAlchemyError as exc:
            if seen is None and _is_conflict(exc):
                return None  # another master inserted the first row at the same moment
            raise StoreError(f"cannot take the master lease: {exc}") from exc
        if changed != 1:
            return None
        return LeaseRow(epoch, 0, me.holder, me.address, me.pid, me.term)

    def renew(self, epoch: int) -> bool:
        """Raise the beat of the lease held with ``epoch``; False when another holds it now."""
        return self._held_update(epoch, "renew", {})

    def release(self, epoch: int) -> bool:
        """A master stopping on purpose gives the lease up: no shadow takes over, the next
        master to start takes it at once."""
        return self._held_update(epoch, "release", {"holder": "", "pid": 0})

    def _held_update(self, epoch: int, what: str, values: dict[str, Any]) -> bool:
        """Raise the beat (and set ``values``) if ``epoch`` still holds the lease."""
        lease = schema.master_lease
        stmt = (update(lease).where(lease.c.name == LEASE_NAME, lease.c.epoch == epoch)
                .values(beat=lease.c.beat + 1, **values))
        try:
            with self.engine.begin() as conn:
                self._short_locks(conn)
                return bool(conn.execute(stmt).rowcount == 1)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot {what} the master lease: {exc}") from exc

    def _short_locks(self, conn: Connection) -> None:
        """Wait at most the timeout for the lease row's lock (held by a commit in flight)."""
        if self._lock_timeout:
            conn.execute(text(f"SET LOCAL lock_timeout = {self._lock_timeout}"))


def _is_conflict(exc: SQLAlchemyError) -> bool:
    return "unique" in str(exc).lower() or "duplicate" in str(exc).lower()
