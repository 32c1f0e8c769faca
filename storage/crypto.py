"""Encryption at rest: a master key seals small secrets (inbox payloads, members' data keys)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger(__name__)

NONCE = 12


class MasterKeyError(Exception):
    """The master key is missing or malformed."""


class Sealer:
    """AES-256-GCM with a random nonce; `aad` binds a ciphertext to its row and purpose."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise MasterKeyError("MASTER_KEY: expected 32 bytes, base64-encoded (44 characters)")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        nonce = secrets.token_bytes(NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes = b"") -> bytes:
        return self._aead.decrypt(sealed[:NONCE], sealed[NONCE:], aad)

    @staticmethod
    def new_key() -> bytes:
        return AESGCM.generate_key(bit_length=256)


class DataKeys:
    """Per-member data keys: random 256-bit keys wrapped by the master key.

    The wrap's aad names the member, so a wrapped key copied onto another member's row fails
    to open. Destroying the wrapped key (KeyRepo.destroy) makes everything sealed with it
    unreadable, whoever holds the master key or a backup: crypto-shredding.
    """

    def __init__(self, master: Sealer) -> None:
        self.master = master

    @staticmethod
    def aad(member_id: int) -> bytes:
        return b"member-key:%d" % member_id

    def create(self, member_id: int) -> tuple[Sealer, bytes]:
        """A new data key as (its sealer, the wrapped key to store)."""
        key = Sealer.new_key()
        return Sealer(key), self.master.seal(key, self.aad(member_id))

    def unwrap(self, member_id: int, wrapped: bytes) -> Sealer:
        return Sealer(self.master.open(wrapped, self.aad(member_id)))


def pad(value: str, width: int = 32) -> bytes:
    """Padded to a multiple of `width` bytes: a ciphertext's length must not tell "hiv" from
    "legal-help" or one network from another."""
    raw = value.encode()
    return raw + b"\0" * (-len(raw) % width or (0 if raw else width))


def unpad(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode()


def derive(master: bytes, label: bytes) -> bytes:
    """A 256-bit key for one purpose, derived from the master key (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(master)


class Identity:
    """Telegram ids at rest (H1): found by a keyed hash, kept only sealed.

    `tag` is HMAC-SHA256 under a key derived from the master key, so a copy of the database
    without the key cannot test "is account N a member?"; `seal`/`open` use another derived
    key, so the identity key never opens inbox payloads or data keys, and the other way round.
    """

    HASH_LABEL = b"community-guide/v1/telegram-id-hash"
    SEAL_LABEL = b"community-guide/v1/identity-seal"

    def __init__(self, master: bytes) -> None:
        self._hash_key = derive(master, self.HASH_LABEL)
        self.sealer = Sealer(derive(master, self.SEAL_LABEL))

    def tag(self, telegram_id: int) -> bytes:
        return hmac.new(self._hash_key, b"%d" % telegram_id, hashlib.sha256).digest()

    def seal_int(self, value: int, aad: bytes) -> bytes:
        return self.sealer.seal(value.to_bytes(8, "big", signed=True), aad)

    def open_int(self, sealed: bytes, aad: bytes) -> int:
        return int.from_bytes(self.sealer.open(sealed, aad), "big", signed=True)

    def seal_text(self, value: str, aad: bytes, width: int = 32) -> bytes:
        return self.sealer.seal(pad(value, width), aad)

    def open_text(self, sealed: bytes, aad: bytes) -> str:
        return unpad(self.sealer.open(sealed, aad))


def decode_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except ValueError:
        raise MasterKeyError("MASTER_KEY: not valid base64") from None
    if len(key) != 32:
        raise MasterKeyError("MASTER_KEY: expected 32 bytes, base64-encoded (44 characters)")
    if not any(key):
        raise MasterKeyError("MASTER_KEY is all zeros: generate a random one")
    return key


def check_key_file(key_file: Path) -> None:
    """Refuse a key file others can read: anyone on the machine could open everything."""
    mode = stat.S_IMODE(key_file.stat().st_mode)
    if mode & 0o077:
        raise MasterKeyError(
            f"{key_file} is readable by other users (mode {mode:o}): run chmod 600 {key_file}"
        )


def load_or_create_master_key(value: str | None, key_file: Path) -> bytes:
    """Use MASTER_KEY when set; the embedded default keeps one under var/, created once."""
    if value:
        return decode_key(value)
    if key_file.exists():
        check_key_file(key_file)
        return decode_key(key_file.read_text())
    key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Sealer.new_key()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.urlsafe_b64encode(key).decode())
    log.warning(
        "MASTER_KEY is not set: generated one at %s. Keep it out of backups of the database;"
        " set MASTER_KEY in production.",
        key_file,
    )
    return key
