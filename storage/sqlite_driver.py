"""aiosqlite run in place: SQLite's calls on the event loop's thread, a thread only for a lock.

aiosqlite runs each SQLite call on a thread of its own and hands it over one call at a time;
SQLAlchemy's adapter makes four of them per statement and one per commit. A first profile of a
saturated run (issue 10) found 35 hand-overs per update; folding a statement into one hop cut
that to ~8, but each hop still wakes the thread and passes Python's lock back and forth: on a
busy machine the loop then waits milliseconds to get the lock back (a profile of 200 members
at once: a third of the wall time of an update was `put_nowait` handing a statement over).
With WAL and `synchronous=NORMAL` a statement of ours takes SQLite microseconds and a commit
writes the log without an fsync, so they now run where they are awaited, with no hop at all.

The one thing that may take long is waiting for another process's write lock (`python -m
bot purge`, a backup): SQLite's busy timeout is 0 here, so that call fails at once with
"database is locked", before it changed anything, and runs again on the connection's thread
with `PATIENCE_MS` of patience, the loop free meanwhile. SQLite does the same work in the same
order on the same connection, so nothing changes for transactions, locking or durability.
Used for `sqlite+aiosqlite` URLs by `storage.db.create_engine`; a commit or rollback with no
transaction open is answered at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import partial
from typing import Any

import aiosqlite

# How long a call waits for a write lock another process holds (it waits on a thread).
PATIENCE_MS = 30000
_Outcome = tuple[list[Any], Any, int, int | None]


class Cursor:
    """What SQLAlchemy's adapter uses of an aiosqlite cursor; every row read with the call."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._rows: list[Any] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _run(self, sql: str, parameters: Any, many: bool) -> _Outcome:
        cursor = self._connection._conn.cursor()
        try:
            if many:
                cursor.executemany(sql, parameters)
            else:
                cursor.execute(sql, parameters)
            description = cursor.description
            rows = cursor.fetchall() if description is not None else []
            return rows, description, cursor.rowcount, cursor.lastrowid
        finally:
            cursor.close()

    async def _call(self, sql: str, parameters: Any, many: bool) -> Cursor:
        run = self._connection._execute
        outcome: _Outcome = await run(self._run, sql, parameters, many)
        self._rows, self.description, self.rowcount, self.lastrowid = outcome
        return self

    async def execute(self, sql: str, parameters: Any = None) -> Cursor:
        return await self._call(sql, () if parameters is None else parameters, False)

    async def executemany(self, sql: str, parameters: Any) -> Cursor:
        return await self._call(sql, parameters, True)

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def fetchall(self) -> Sequence[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        self._rows = []


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


class Connection(aiosqlite.Connection):
    def cursor(self) -> Cursor:  # type: ignore[override]
        return Cursor(self)

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """In place; on the connection's thread, patiently, when the file is locked."""
        if self._running and self._connection is not None:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if not _locked(exc):
                    raise
            return await super()._execute(self._patiently, fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    def _patiently(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """On the thread: wait for the lock as SQLite does, then give up waiting again."""
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout={PATIENCE_MS}")
        try:
            return fn(*args, **kwargs)
        finally:
            conn.execute("PRAGMA busy_timeout=0")

    async def commit(self) -> None:
        # Reading whether a transaction is open is safe from this thread: nothing else runs
        # on this connection while SQLAlchemy waits for it.
        if self._conn.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            await super().rollback()


def connect(database: str, **kwargs: Any) -> Connection:
    """For `connect_args={"async_creator_fn": connect}`: as `aiosqlite.connect`. The connection
    is used from the loop's thread and its own, never both at once (SQLAlchemy awaits each
    call); a busy timeout of 0 sends a call that meets a lock to the thread at once."""
    kwargs["check_same_thread"] = False
    kwargs["timeout"] = 0
    connection = Connection(partial(sqlite3.connect, str(database), **kwargs), 64)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections
    return connection
