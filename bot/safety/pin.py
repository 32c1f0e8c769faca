"""The PIN in front of "My requests": a salted scrypt hash, sealed by the master key."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets

from cryptography.exceptions import InvalidTag

from storage.crypto import Sealer


async def hash_pin(sealer: Sealer, member_id: int, pin: str) -> bytes:
    salt = secrets.token_bytes(16)
    digest = await asyncio.to_thread(_scrypt, pin, salt)
    return sealer.seal(salt + digest, _pin_aad(member_id))


async def check_pin(sealer: Sealer, member_id: int, pin: str, stored: bytes) -> bool:
    try:
        opened = sealer.open(stored, _pin_aad(member_id))
    except (InvalidTag, ValueError):  # a row moved to another member, or the master key changed
        return False
    digest = await asyncio.to_thread(_scrypt, pin, opened[:16])
    return secrets.compare_digest(digest, opened[16:])


def _pin_aad(member_id: int) -> bytes:
    return b"pin:%d" % member_id


def _scrypt(pin: str, salt: bytes) -> bytes:
    # 16 MiB and ~50 ms per try: slow for guessing, still quick for one member.
    return hashlib.scrypt(pin.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)


PIN_RE = re.compile(r"^[0-9]{4,8}$")  # ASCII digits only: \d takes any script's


def valid_pin(text: str | None) -> bool:
    return bool(text) and PIN_RE.match((text or "").strip()) is not None
