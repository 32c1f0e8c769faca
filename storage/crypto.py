"""Encryption at rest: a master key seals small secrets (inbox payloads, members' data keys)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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
        # A separate key for keyed hashes, so a hash never helps against the cipher.
        self._mac_key = hmac.new(key, b"keyed-hash:v1", hashlib.sha256).digest()

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        nonce = secrets.token_bytes(NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes = b"") -> bytes:
        return self._aead.decrypt(sealed[:NONCE], sealed[NONCE:], aad)

    def keyed_hash(self, data: bytes) -> bytes:
        """HMAC-SHA256 under a key derived from the master key: equal inputs, equal outputs,
        and nothing to learn from it without the key."""
        return hmac.new(self._mac_key, data, hashlib.sha256).digest()

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


def decode_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except ValueError:
        raise MasterKeyError("MASTER_KEY: not valid base64") from None
    if len(key) != 32:
        raise MasterKeyError("MASTER_KEY: expected 32 bytes, base64-encoded (44 characters)")
    return key


def load_or_create_master_key(value: str | None, key_file: Path) -> bytes:
    """Use MASTER_KEY when set; the embedded default keeps one under var/, created once."""
    if value:
        return decode_key(value)
    if key_file.exists():
        return decode_key(key_file.read_text())
    key_file.parent.mkdir(parents=True, exist_ok=True)
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
