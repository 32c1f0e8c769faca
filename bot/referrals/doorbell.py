"""The outbox worker's doorbell: rung after a commit that owes Telegram a message."""

from __future__ import annotations

import asyncio


class Doorbell:
    """Wakes the delivery worker at once after a commit that owes Telegram a message."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout=max(seconds, 0.0))
        except TimeoutError:
            return
        finally:
            self._event.clear()
