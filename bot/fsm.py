"""FSM data sealed at rest: a half-written request in Redis is a member's words, so it is
encrypted with the master key like the inbox, and bound to its chat and user. The state's name
("asking for a lawyer") is sealed too, and key names carry a keyed hash, not Telegram ids (L10).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StorageKey

from storage.crypto import Identity, Sealer

FIELD = "sealed"


class HashedKeyBuilder(DefaultKeyBuilder):
    """`fsm:<bot>:<hash of chat>:<hash of user>:<destiny>:<part>`: Redis names no one."""

    def __init__(self, identity: Identity, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.identity = identity

    def _tag(self, value: int) -> str:
        return self.identity.tag(value).hex()[:32]

    def build(self, key: StorageKey, part: Literal["data", "state", "lock"] | None = None) -> str:
        # The parent's layout, with the two ids replaced by their keyed hashes.
        hashed = super().build(replace(key, chat_id=0, user_id=0), part).split(self.separator)
        at = (
            1
            + self.with_bot_id
            + bool(self.with_business_connection_id and key.business_connection_id)
        )
        hashed[at] = self._tag(key.chat_id)
        hashed[at + 1 + bool(key.thread_id)] = self._tag(key.user_id)
        return self.separator.join(hashed)


class SealedStorage(BaseStorage):
    def __init__(self, inner: BaseStorage, sealer: Sealer) -> None:
        self.inner, self.sealer = inner, sealer

    @staticmethod
    def _aad(key: StorageKey) -> bytes:
        return f"fsm:{key.bot_id}:{key.chat_id}:{key.user_id}:{key.destiny}".encode()

    async def set_state(self, key: StorageKey, state: str | State | None = None) -> None:
        name = state.state if isinstance(state, State) else state
        if name is None:
            await self.inner.set_state(key, None)
            return
        blob = self.sealer.seal(name.encode(), self._aad(key) + b":state")
        await self.inner.set_state(key, base64.b64encode(blob).decode())

    async def get_state(self, key: StorageKey) -> str | None:
        stored = await self.inner.get_state(key)
        if stored is None:
            return None
        return self.sealer.open(base64.b64decode(stored), self._aad(key) + b":state").decode()

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
