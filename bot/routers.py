"""Routers in the order they are tried: specific features first, the catch-all last."""

from __future__ import annotations

from aiogram import Router

from bot.alerts import announce
from bot.alerts import member as alerts
from bot.baddates import moderation, report
from bot.core import errors, fallback, language, privacy, start
from bot.desk import handlers as desk
from bot.directory import countries
from bot.directory import handlers as services
from bot.directory import law_handlers as law
from bot.guides import handlers as guides
from bot.referrals import binding, media, member, staff
from bot.safety import handlers as safety


def routers() -> list[Router]:
    ordered = [
        errors.router,
        # Feature routers go here, before the core commands and the catch-all.
        safety.router,  # first: /exit and "Clear this chat" work in any conversation state
        binding.router,  # /bind, /unbind: before the group side, which swallows group chatter
        moderation.router,  # report cards; passes replies not about a report on to staff
        announce.router,  # /announce and a broadcast's Stop button, in groups: the same reason
        desk.router,  # /saved, /use, /stats, Transfer: before staff, which relays every reply
        media.router,  # photos and voice notes in a request: before the text-only handlers
        staff.router,  # staff groups only: cards, claims, replies to cards
        report.router,  # the bad-date form: its writing steps before /ask's relay offers
        member.router,  # /ask, /requests; early so its text steps win over other features
        alerts.router,  # /alerts: its areas step waits for typed text too
        countries.router,  # the shared country picker (services, network, ask)
        services.router,
        law.router,  # /law, /now and the law card
        guides.router,  # before start: it answers /start g-<slug> deep links
        start.router,
        language.router,
        privacy.router,
        fallback.router,
    ]
    # Module-level routers may be attached to an earlier dispatcher (tests build many).
    for router in ordered:
        router._parent_router = None
    return ordered
