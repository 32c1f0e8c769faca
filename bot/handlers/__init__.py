"""Routers in the order they are tried: specific features first, the catch-all last."""

from __future__ import annotations

from aiogram import Router

from bot import countries
from bot.handlers import errors, fallback, language, privacy, services, start


def routers() -> list[Router]:
    ordered = [
        errors.router,
        # Feature routers go here, before the core commands and the catch-all.
        countries.router,  # the shared country picker (services, network, ask)
        services.router,
        start.router,
        language.router,
        privacy.router,
        fallback.router,
    ]
    # Module-level routers may be attached to an earlier dispatcher (tests build many).
    for router in ordered:
        router._parent_router = None
    return ordered
