"""The SQLite state store: one file shared by every process on a host.

WAL journal so readers never block the writer; every change runs in a
``BEGIN IMMEDIATE`` transaction, which takes the database's write lock up
front, so a read-check-write (set_if_absent, incr, a budget reservation over
several windows) is atomic across threads and processes. Expiry uses the
wall clock, which all processes of a host share.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .base import (
    Acquired,
    Admitted,
    BudgetCharge,
    BudgetUsage,
    LimitCharge,
    Reserved,
    StateStore,
    combine_waits,
    fits,
    limit_buckets,
    window_wait,
)

__all__ = ["SQLiteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL);
CREATE TABLE IF NOT EXISTS budget_window (
    key TEXT PRIMARY KEY, spent REAL NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS budget_hold (
    key TEXT NOT NULL, reservation TEXT NOT NULL, amount REAL NOT NULL,
    expires_at REAL NOT NULL, PRIMARY KEY (key, reservation));
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_ts ON ledger (ts);
CREATE TABLE IF NOT EXISTS limit_bucket (
    key TEXT NOT NULL, bucket INTEGER NOT NULL, amount REAL NOT NULL,
    PRIMARY KEY (key, bucket));
CREATE TABLE IF NOT EXISTS limit_hold (
    key TEXT NOT NULL, ticket TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (key, ticket));
"""

_FORGOTTEN_WINDOW_S = 86_400.0


class SQLiteStore(StateStore):
    """State in one SQLite file, safe for many threads and processes of one host."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._busy_ms = int(busy_timeout_s * 1000)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._conn().executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # A connection per thread (sqlite3 objects are not shared across threads)
    # and per process (a forked child must not reuse its parent's handle).
    def _conn(self) -> sqlite3.Connection:
        pid = os.getpid()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != pid:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_ms / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
            self._wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn, self._local.pid = conn, pid
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _wal(self, conn: sqlite3.Connection) -> None:
        # WAL is a property of the file: once set, later connections find it. Setting
        # it takes a lock that SQLite does not wait for (no busy handler), so two
        # connections opening a new file at once may see "database is locked":
        # retried until the busy timeout, like any other wait for the file.
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            return
        deadline = time.monotonic() + self._busy_ms / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for c in conns:
            with contextlib.suppress(sqlite3.ProgrammingError):
                c.close()
        self._local = threading.local()

    # -- key/value -------------------------------------------------------------

    def _live(
        self, db: sqlite3.Connection, key: str, now: float
    ) -> tuple[str, float | None] | None:
        row = db.execute("SELECT value, expires_at FROM kv WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        if row[1] is not None and row[1] <= now:
            db.execute("DELETE FROM kv WHERE key = ?", (key,))
            return None
        return row[0], row[1]

    def _put(self, db: sqlite3.Connection, key: str, value: str, expires: float | None) -> None:
        db.execute(
            "INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "expires_at = excluded.expires_at",
            (key, value, expires),
        )

    def get(self, key: str) -> str | None:
        db = self._conn()
        row = db.execute("SELECT value, expires_at FROM kv WHERE key = ?", (key,)).fetchone()
        if row is None or (row[1] is not None and row[1] <= self._clock()):
            return None
        return str(row[0])

    def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        with self._tx() as db:
            now = self._clock()
            self._put(db, key, value, None if ttl_s is None else now + ttl_s)

    def set_if_absent(self, key: str, value: str, ttl_s: float | None = None) -> bool:
        with self._tx() as db:
            now = self._clock()
            if self._live(db, key, now) is not None:
                return False
            self._put(db, key, value, None if ttl_s is None else now + ttl_s)
            return True

    def incr(self, key: str, amount: float = 1.0, ttl_s: float | None = None) -> float:
        with self._tx() as db:
            now = self._clock()
            item = self._live(db, key, now)
            if item is None:
                total, expires = amount, None if ttl_s is None else now + ttl_s
            else:
                total, expires = float(item[0]) + amount, item[1]
            self._put(db, key, repr(total), expires)
            return total

    def delete(self, key: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM kv WHERE key = ?", (key,))

    # -- budgets -----------------------------------------------------------------

    @staticmethod
    def _usage(db: sqlite3.Connection, key: str, now: float, purge: bool) -> BudgetUsage:
        if purge:
            db.execute("DELETE FROM budget_window WHERE key = ? AND expires_at <= ?", (key, now))
            db.execute("DELETE FROM budget_hold WHERE key = ? AND expires_at <= ?", (key, now))
        row = db.execute(
            "SELECT spent FROM budget_window WHERE key = ? AND expires_at > ?", (key, now)
        ).fetchone()
        held, n = db.execute(
            "SELECT COALESCE(SUM(amount), 0), COUNT(*) FROM budget_hold "
            "WHERE key = ? AND expires_at > ?",
            (key, now),
        ).fetchone()
        return BudgetUsage(float(row[0]) if row else 0.0, float(held), int(n))

    def budget_reserve(
        self,
        reservation: str,
        charges: Sequence[BudgetCharge],
        amount_usd: float,
        *,
        now: float,
        hold_s: float,
    ) -> Reserved:
        with self._tx() as db:
            return self._reserve(db, reservation, charges, amount_usd, now, hold_s)

    def _reserve(
        self,
        db: sqlite3.Connection,
        reservation: str,
        charges: Sequence[BudgetCharge],
        amount_usd: float,
        now: float,
        hold_s: float,
    ) -> Reserved:
        """:meth:`budget_reserve` inside the transaction of ``db``."""
        usage = {c.key: self._usage(db, c.key, now, purge=True) for c in charges}
        refused = tuple(c.key for c in charges if not fits(usage[c.key], c.limit_usd, amount_usd))
        if refused:
            return Reserved(False, usage, refused)
        for c in charges:
            db.execute(
                "INSERT INTO budget_window (key, spent, expires_at) VALUES (?, 0, ?) "
                "ON CONFLICT (key) DO UPDATE SET "
                "expires_at = MAX(expires_at, excluded.expires_at)",
                (c.key, c.expires_at),
            )
            db.execute(
                "INSERT OR REPLACE INTO budget_hold (key, reservation, amount, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (c.key, reservation, amount_usd, now + hold_s),
            )
        return Reserved(True, usage)

    def budget_commit(
        self,
        reservation: str,
        keys: Sequence[str],
        amount_usd: float,
        *,
        now: float,
        record: str | None = None,
    ) -> tuple[bool, ...]:
        with self._tx() as db:
            found: list[bool] = []
            for key in keys:
                cur = db.execute(
                    "DELETE FROM budget_hold WHERE key = ? AND reservation = ? AND expires_at > ?",
                    (key, reservation, now),
                )
                found.append(cur.rowcount > 0)
                db.execute(
                    "DELETE FROM budget_hold WHERE key = ? AND reservation = ?", (key, reservation)
                )
                db.execute(
                    "DELETE FROM budget_window WHERE key = ? AND expires_at <= ?", (key, now)
                )
                db.execute(
                    "INSERT INTO budget_window (key, spent, expires_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET spent = spent + excluded.spent",
                    (key, amount_usd, now + _FORGOTTEN_WINDOW_S),
                )
            if record is not None:
                db.execute("INSERT INTO ledger (ts, record) VALUES (?, ?)", (now, record))
            return tuple(found)

    def budget_release(self, reservation: str, keys: Sequence[str]) -> None:
        with self._tx() as db:
            db.executemany(
                "DELETE FROM budget_hold WHERE key = ? AND reservation = ?",
                [(k, reservation) for k in keys],
            )

    def budget_usage(self, key: str, *, now: float) -> BudgetUsage:
        return self._usage(self._conn(), key, now, purge=False)

    # -- rate and concurrency limits ---------------------------------------------

    @staticmethod
    def _add(db: sqlite3.Connection, c: LimitCharge, at: float) -> None:
        db.execute(
            "INSERT INTO limit_bucket (key, bucket, amount) VALUES (?, ?, ?) "
            "ON CONFLICT (key, bucket) DO UPDATE SET amount = amount + excluded.amount",
            (c.key, limit_buckets(c.window_s, at)[1], c.amount),
        )

    def limit_acquire(
        self, ticket: str, charges: Sequence[LimitCharge], *, now: float, hold_s: float
    ) -> Acquired:
        with self._tx() as db:
            return self._acquire(db, ticket, charges, now, hold_s)

    def admit(
        self,
        reservation: str,
        charges: Sequence[BudgetCharge],
        amount_usd: float,
        ticket: str,
        limits: Sequence[LimitCharge],
        *,
        now: float,
        hold_s: float,
        limit_hold_s: float,
    ) -> Admitted:
        with self._tx() as db:
            reserved = self._reserve(db, reservation, charges, amount_usd, now, hold_s)
            if not reserved.ok:
                return Admitted(reserved)
            return Admitted(reserved, self._acquire(db, ticket, limits, now, limit_hold_s))

    def _acquire(
        self,
        db: sqlite3.Connection,
        ticket: str,
        charges: Sequence[LimitCharge],
        now: float,
        hold_s: float,
    ) -> Acquired:
        """:meth:`limit_acquire` inside the transaction of ``db``."""
        refused: list[str] = []
        waits: list[float | None] = []
        for c in charges:
            if c.window_s > 0:
                cutoff = limit_buckets(c.window_s, now - c.window_s)[1]
                db.execute("DELETE FROM limit_bucket WHERE key = ? AND bucket < ?", (c.key, cutoff))
                live = [
                    (int(b), float(a))
                    for b, a in db.execute(
                        "SELECT bucket, amount FROM limit_bucket WHERE key = ? ORDER BY bucket",
                        (c.key,),
                    )
                ]
                used = sum(a for _, a in live)
                if used + c.amount > c.limit:
                    refused.append(c.key)
                    waits.append(window_wait(live, used, c, now))
            else:
                db.execute("DELETE FROM limit_hold WHERE key = ? AND expires_at <= ?", (c.key, now))
                n, mine = db.execute(
                    "SELECT COUNT(*), COALESCE(SUM(ticket = ?), 0) FROM limit_hold WHERE key = ?",
                    (ticket, c.key),
                ).fetchone()
                if not mine and n >= c.limit:
                    refused.append(c.key)
                    waits.append(None)
        if refused:
            return Acquired(False, tuple(refused), combine_waits(waits))
        for c in charges:
            if c.window_s > 0:
                self._add(db, c, now)
            else:
                db.execute(
                    "INSERT OR REPLACE INTO limit_hold (key, ticket, expires_at) VALUES (?, ?, ?)",
                    (c.key, ticket, now + hold_s),
                )
        return Acquired(True)

    def limit_release(
        self,
        ticket: str,
        keys: Sequence[str],
        adjust: Sequence[LimitCharge] = (),
        *,
        at: float = 0.0,
    ) -> None:
        with self._tx() as db:
            db.executemany(
                "DELETE FROM limit_hold WHERE key = ? AND ticket = ?",
                [(k, ticket) for k in keys],
            )
            for c in adjust:
                if c.window_s > 0 and c.amount:
                    self._add(db, c, at)

    # -- ledger --------------------------------------------------------------------

    def ledger_append(self, record: str, *, ts: float) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO ledger (ts, record) VALUES (?, ?)", (ts, record))

    def ledger_read(self, since: float | None = None, until: float | None = None) -> list[str]:
        rows = self._conn().execute(
            "SELECT record FROM ledger WHERE ts >= ? AND ts < ? ORDER BY id",
            (float("-inf") if since is None else since, float("inf") if until is None else until),
        )
        return [str(r[0]) for r in rows]
