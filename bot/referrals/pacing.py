"""Pacing ahead of Telegram's limits (R20): a token bucket per group chat.

Telegram takes about 20 messages a minute in one group and answers more with 429. The outbox
books a moment with the pacer before each send to a group; when that group's tokens are spent,
the row waits for its booked moment instead of being sent and refused, so a burst of cards is
queued, in order, and other chats keep flowing. The bucket is a GCRA (one "theoretical arrival
time" per chat): `burst` messages may go at once, then one every `60 / per_minute` seconds, so
no 60-second window ever holds more than `burst + per_minute` messages. A 429 that happens
anyway is still honoured by the worker.

The state is per process: two workers sharing one group each keep their own bucket, so with
several instances lower `per_minute` accordingly (or move the arrival times to Redis).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rate:
    per_minute: float = 15.0  # with burst 5: at most 20 messages in any minute
    burst: int = 5
    window: float = 60.0  # seconds; tests may scale it down together with the fake's limit

    @property
    def interval(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.window / self.per_minute)


@dataclass
class Pacer:
    rate: Rate | None = field(default_factory=Rate)
    _arrival: dict[int, dt.datetime] = field(default_factory=dict)

    def reserve(self, chat_id: int, now: dt.datetime) -> dt.datetime:
        """Book the next free moment for one message to `chat_id`: `now` when it may go at
        once, else a later time, kept for it (so messages booked one after another go in
        that order, one interval apart). Only groups (negative ids) are paced."""
        rate = self.rate
        if rate is None or rate.per_minute <= 0 or chat_id >= 0:
            return now
        interval = rate.interval
        tolerance = interval * (max(rate.burst, 1) - 1)
        arrival = max(self._arrival.get(chat_id, now), now)
        self._arrival[chat_id] = arrival + interval
        if len(self._arrival) > 1000:
            self._forget_idle(now)
        return max(now, arrival - tolerance)

    def _forget_idle(self, now: dt.datetime) -> None:
        """A chat whose bucket is full again needs no entry."""
        for chat_id in [c for c, at in self._arrival.items() if at <= now]:
            del self._arrival[chat_id]
