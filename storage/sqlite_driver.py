"""aiosqlite with one thread hop per statement, and none for an empty commit or rollback.

aiosqlite runs each SQLite call on a thread of its own and hands it over one call at a time:
SQLAlchemy's adapter makes four of them per statement (open a cursor, execute, fetch, close)
and one more for every commit and rollback, even of a transaction that never began (SQLite
begins one only before a write). Each hand-over wakes the thread and passes Python's lock
back and forth; a profile of a saturated run (issue 10) found 35 of them per update, and that
ping-pong, not SQLite, was most of the CPU an update cost.

Here a statement is opened, executed, read to the end and closed in one hand-over (the rows of
one statement are few: no query here streams), and a commit or rollback with no transaction
open is answered at once. SQLite does the same work in the same order on the same thread, so
nothing changes for transactions, locking or durability. Used for `sqlite+aiosqlite` URLs by
`storage.db.create_engine`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import partial
from typing import Any

import aiosqlite

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
        outcome: _Outcome = await run(self._run, sql, parameters, many)  # type: ignore[no-untyped-call]
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


class Connection(aiosqlite.Connection):
    def cursor(self) -> Cursor:  # type: ignore[override]
        return Cursor(self)

    async def commit(self) -> None:
        # Reading whether a transaction is open is safe from this thread: nothing else runs
        # on this connection while SQLAlchemy waits for it.
        if self._conn.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            await super().rollback()


def connect(database: str, **kwargs: Any) -> Connection:
    """For `connect_args={"async_creator_fn": connect}`: as `aiosqlite.connect`."""
    connection = Connection(partial(sqlite3.connect, str(database), **kwargs), 64)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections
    return connection
