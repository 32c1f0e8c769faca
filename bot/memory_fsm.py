"""FSM state and per-chat locks in memory that do not grow for ever (L8, R37).

aiogram's MemoryStorage keeps a record for every key it was ever asked about, and its
SimpleEventIsolation a lock for every key it ever locked: ~500 bytes per member, never freed.
Here a record with no state and no data is dropped at once, the rest expire `ttl` seconds after
their last change (as `state_ttl`/`data_ttl` do in Redis), and a lock goes once nobody holds or
waits for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, StateType, StorageKey


@dataclass
class _Record:
    touched: float
    state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class ExpiringMemoryStorage(BaseStorage):
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.clock = ttl, clock
        self.storage: dict[StorageKey, _Record] = {}
        self._swept = clock()

    def _live(self, key: StorageKey) -> _Record | None:
        if self.clock() - self._swept > self.ttl / 10:
            self.sweep()
        record = self.storage.get(key)
        if record is not None and self.clock() - record.touched > self.ttl:
            del self.storage[key]
            return None
        return record

    def _write(self, key: StorageKey, state: str | None, data: dict[str, Any]) -> None:
        if state is None and not data:
            self.storage.pop(key, None)
        else:
            self.storage[key] = _Record(self.clock(), state, data)

    def sweep(self) -> None:
        self._swept = self.clock()
        cutoff = self._swept - self.ttl
        for key in [k for k, r in self.storage.items() if r.touched < cutoff]:
            del self.storage[key]

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        record = self._live(key)
        value = state.state if isinstance(state, State) else state
        self._write(key, value, record.data if record else {})

    async def get_state(self, key: StorageKey) -> str | None:
        record = self._live(key)
        return record.state if record else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        record = self._live(key)
        self._write(key, record.state if record else None, dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        record = self._live(key)
        return dict(record.data) if record else {}

    async def close(self) -> None:
        self.storage.clear()


class ReleasingIsolation(BaseEventIsolation):
    """One lock per chat and user while an update of theirs is handled, and none after."""

    def __init__(self) -> None:
        self._locks: dict[StorageKey, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            held = self._locks.get(key)  # gone if closed meanwhile (shutdown)
            if held is not None and held[1] <= 1:
                del self._locks[key]
            elif held is not None:
                self._locks[key] = (held[0], held[1] - 1)

    async def close(self) -> None:
        self._locks.clear()
