"""All wiring in one place: middlewares, routers and long-lived objects. Tests call it too."""

from __future__ import annotations

from aiogram import Dispatcher
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.utils.i18n import I18n

from bot.app import App
from bot.fsm import HashedKeyBuilder, SealedStorage
from bot.guides import handlers as guides
from bot.i18n import MemberI18nMiddleware
from bot.memory_fsm import ExpiringMemoryStorage, ReleasingIsolation
from bot.middlewares.db import Transaction
from bot.middlewares.member import MemberMiddleware
from bot.middlewares.throttle import MemoryCounter, RedisCounter, Throttle
from bot.routers import routers
from bot.safety.service import SafetyUpdates
from bot.telegram.filters import inline_sync_filters

FSM_TTL = 24 * 3600


def build_i18n(app: App) -> I18n:
    return I18n(path=app.settings.locales_dir, default_locale=app.settings.default_language)


def fsm_backend(app: App) -> tuple[BaseStorage, BaseEventIsolation]:
    """Redis when configured, so several instances share FSM state and per-member locks."""
    if app.settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        # Abandoned conversations expire: a half-written request must not linger for ever.
        storage = RedisStorage.from_url(
            app.settings.redis_url,
            # Key names carry a keyed hash of the chat and user, never their ids (L10).
            key_builder=HashedKeyBuilder(app.identity, with_bot_id=True, with_destiny=True),
            state_ttl=FSM_TTL,
            data_ttl=FSM_TTL,
        )
        return SealedStorage(storage, app.sealer), storage.create_isolation()
    # One member's quick taps must not race on their FSM state; neither grows for ever (L8).
    return ExpiringMemoryStorage(FSM_TTL), ReleasingIsolation()


def build_dispatcher(
    app: App,
    storage: BaseStorage | None = None,
    events_isolation: BaseEventIsolation | None = None,
) -> Dispatcher:
    default_storage, default_isolation = fsm_backend(app)
    dp = Dispatcher(
        storage=storage or default_storage,
        events_isolation=events_isolation or default_isolation,
        app=app,
        settings=app.settings,
        sealer=app.sealer,
        directory=app.directory,
        library=app.library,
        safety=app.safety,
    )
    dp.update.outer_middleware(Transaction(app.sessions))
    dp.update.outer_middleware(MemberMiddleware(app.settings.default_language))
    # Inside the transaction: message ids of private chats, kept 48 h for "Clear this chat".
    dp.update.outer_middleware(SafetyUpdates(app.safety))
    MemberI18nMiddleware(build_i18n(app)).setup(dp)
    if app.settings.flood_limit:
        counter: MemoryCounter | RedisCounter = MemoryCounter()
        if app.settings.redis_url:
            counter = RedisCounter(app.settings.redis_url, app.identity)
            dp.shutdown.register(counter.close)
        # After i18n, so the one notice a flooding member gets is in their language.
        throttle = Throttle(counter, app.settings.flood_limit)
        for observer in (dp.message, dp.callback_query, dp.inline_query):
            observer.outer_middleware(throttle)
    guides.setup(dp)  # leaving the Guides section ends its text search, whoever handles it
    dp.include_routers(*routers())
    inline_sync_filters(dp)  # not one thread hand-over per magic filter (issue 10)
    return dp
