"""Callback data of the services flow, shared by the services and law screens."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class ServicePage(CallbackData, prefix="sv"):
    c: str  # country
    n: str  # need id, or "all"
    p: int = 0  # page


class NeedMenu(CallbackData, prefix="sn"):
    c: str
