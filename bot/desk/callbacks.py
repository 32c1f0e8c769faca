"""Callback data of the desk's buttons: choosing where a request is transferred to."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class TransferOp(StrEnum):
    PICK = "p"  # a network was chosen
    GO = "g"  # transfer without a note
    CANCEL = "x"


class TransferAction(CallbackData, prefix="dt"):
    """`r` is the referral code, `n` the network chosen; they grant nothing by themselves."""

    op: TransferOp
    r: str
    n: str = ""
