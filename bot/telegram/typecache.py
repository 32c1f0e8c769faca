"""Keep aiogram's parametrised response models alive (issue 10, found with cProfile).

aiogram validates each Bot API answer with `Response[method.__returning__]`. Pydantic caches such
parametrised models in a WeakValueDictionary, so once the garbage collector has run, the next
call builds the model again: ~50 ms of schema building, about every third update under load.
Holding one strong reference per method type keeps pydantic's own cache warm.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

_kept: dict[type[Any], type[Any]] = {}


class KeepResponseTypes(BaseRequestMiddleware):
    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        kind = type(method)
        if kind not in _kept:
            _kept[kind] = Response[method.__returning__]  # type: ignore[name-defined]
        return await make_request(bot, method)
