"""FSM data sealed at rest: a half-written request in Redis is a member's words, so it is
encrypted with the master key like the inbox, and bound to its chat and user."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StorageKey

from storage.crypto import Sealer

FIELD = "sealed"


class SealedStorage(BaseStorage):
    def __init__(self, inner: BaseStorage, sealer: Sealer) -> None:
        self.inner, self.sealer = inner, sealer

    @staticmethod
    def _aad(key: StorageKey) -> bytes:
        return f"fsm:{key.bot_id}:{key.chat_id}:{key.user_id}:{key.destiny}".encode()

    async def set_state(self, key: StorageKey, state: str | State | None = None) -> None:
        await self.inner.set_state(key, state)

    async def get_state(self, key: StorageKey) -> str | None:
        return await self.inner.get_state(key)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not data:
            await self.inner.set_data(key, {})
            return
        blob = self.sealer.seal(json.dumps(dict(data)).encode(), self._aad(key))
        await self.inner.set_data(key, {FIELD: base64.b64encode(blob).decode()})

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        stored = await self.inner.get_data(key)
        if FIELD not in stored:
            return stored
        plain = self.sealer.open(base64.b64decode(stored[FIELD]), self._aad(key))
        data: dict[str, Any] = json.loads(plain)
        return data

    async def close(self) -> None:
        await self.inner.close()
