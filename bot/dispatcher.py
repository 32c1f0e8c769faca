"""All wiring in one place: middlewares, routers and long-lived objects. Tests call it too."""

from __future__ import annotations

from aiogram import Dispatcher
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.utils.i18n import I18n

from bot.app import App
from bot.handlers import routers
from bot.i18n import MemberI18nMiddleware
from bot.middlewares.db import Transaction
from bot.middlewares.member import MemberMiddleware


def build_i18n(app: App) -> I18n:
    return I18n(path=app.settings.locales_dir, default_locale=app.settings.default_language)


def build_dispatcher(
    app: App,
    storage: BaseStorage | None = None,
    events_isolation: BaseEventIsolation | None = None,
) -> Dispatcher:
    dp = Dispatcher(
        storage=storage or MemoryStorage(),
        # One member's quick taps must not race on their FSM state.
        events_isolation=events_isolation or SimpleEventIsolation(),
        app=app,
        settings=app.settings,
        sealer=app.sealer,
        **app.extras,
    )
    dp.update.outer_middleware(Transaction(app.sessions))
    dp.update.outer_middleware(MemberMiddleware(app.settings.default_language))
    MemberI18nMiddleware(build_i18n(app)).setup(dp)
    dp.include_routers(*routers())
    return dp
