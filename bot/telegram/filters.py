"""Run plain (non-async) filters on the event loop, not on a thread (issue 10, found by profiling).

aiogram runs every filter that is not a coroutine function through `asyncio.to_thread`: each
magic filter (`F.text`, `F.chat.type == ...`) and plain function filter costs a hand-over to
the default thread pool and back, ~18 per update here, for checks that take microseconds.
Filters here are pure and quick by rule (anything slow is an async filter or a handler), so
they run in place. Handlers are left as aiogram calls them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject, HandlerObject


def _in_place(sync: Callable[..., Any]) -> Callable[..., Any]:
    async def run(*args: Any, **kwargs: Any) -> Any:
        return sync(*args, **kwargs)

    return run


def _inline(filters: list[FilterObject] | None) -> int:
    count = 0
    for item in filters or []:
        if not item.awaitable:
            # The parameters aiogram injects were read from the original callback; keep them.
            item.callback = _in_place(item.callback)
            item.awaitable = True
            count += 1
    return count


def inline_sync_filters(root: Router) -> int:
    """Make every plain filter under `root` run in place; returns how many were changed."""
    count = 0
    for router in root.chain_tail:
        for observer in router.observers.values():
            count += _inline(observer._handler.filters)
            handlers: list[HandlerObject] = observer.handlers
            for handler in handlers:
                count += _inline(handler.filters)
    return count
