"""Callback data of /alerts (a member's subscriptions) and /announce (a group's news)."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class SubscribeOp(StrEnum):
    ALERTS_ON = "a1"  # opt in for alerts (the saved country, or the picker)
    ALERTS_OFF = "a0"
    NEWS_ON = "n1"
    NEWS_OFF = "n0"
    AREAS = "ar"  # name areas (typed next)
    AREAS_CLEAR = "ac"
    SHOW = "s"


class Subscribe(CallbackData, prefix="al"):
    op: SubscribeOp


class AnnounceOp(StrEnum):
    ALL = "all"  # the network's countries
    COUNTRIES = "c"  # show the network's countries
    COUNTRY = "ic"  # `v`: the country chosen
    LANGUAGES = "l"
    LANGUAGE = "il"  # `v`: the language chosen
    SEND = "go"
    BACK = "b"
    CANCEL = "x"


class Announce(CallbackData, prefix="nw"):
    """A step of /announce in a group; `v` is a country code or a language when one is chosen."""

    op: AnnounceOp
    v: str = ""


class BroadcastOp(StrEnum):
    STOP = "stop"


class BroadcastAction(CallbackData, prefix="bc"):
    """The Stop button on a broadcast's progress message; `b` is the broadcast's id."""

    op: BroadcastOp
    b: int
