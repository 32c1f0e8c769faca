"""Columns kept sealed at rest, read and written as plain attributes (H1).

A `SealedInt` or `SealedText` descriptor stands for a value stored only as a ciphertext (and,
for ids that must be looked up, a keyed hash beside it). The key comes from the session:
`Session.info[IDENTITY]` carries the app's `Identity`, so models stay plain and a copy of the
database without the master key holds no Telegram id and no link from a member to a need,
a country or a network. The associated data binds every ciphertext to its row, so a value
copied onto another row fails to open.

A value set before the object belongs to a session is sealed just before the flush.

`MemberSealed` is the stronger kind: sealed with the member's own data key (in the key store,
destroyed by /forget), so that even the master key cannot open it once they are gone. The key
is reached asynchronously, so the repository that loads such a row opens it (`open_member`)
and seals what was set before the flush (`seal_member`).
"""

from __future__ import annotations

import contextlib
from typing import Any, Generic, TypeVar, overload

from cryptography.exceptions import InvalidTag
from sqlalchemy import event
from sqlalchemy.orm import Session, object_session

from storage.crypto import Identity, Sealer, pad, unpad

# The key under which sessions of the main database carry the Identity (Session.info).
IDENTITY = "identity"
# ... and the master key's Sealer, which unwraps members' data keys (storage.crypto.DataKeys).
MASTER = "master"

T = TypeVar("T")
_PENDING = "_sealed_pending"


class IdentityMissing(RuntimeError):
    """A sealed column was used in a session opened without the app's Identity."""


def identity_of(session: Session | Any) -> Identity:
    found = session.info.get(IDENTITY)
    if found is None:
        raise IdentityMissing("this session carries no Identity (storage.sealed.IDENTITY)")
    assert isinstance(found, Identity)
    return found


class _Sealed(Generic[T]):
    """`column` holds the ciphertext; `aad(obj)` names the row (fixed when it is created)."""

    def __init__(self, column: str, purpose: str, bind: str, tag: str | None = None) -> None:
        self.column, self.purpose, self.bind, self.tag = column, purpose, bind, tag
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def aad(self, obj: Any) -> bytes:
        return f"{self.purpose}:{getattr(obj, self.bind)}".encode()

    def _seal(self, identity: Identity, value: Any, obj: Any) -> bytes:
        raise NotImplementedError

    def _open(self, identity: Identity, sealed: bytes, obj: Any) -> Any:
        raise NotImplementedError

    @overload
    def __get__(self, obj: None, owner: type) -> _Sealed[T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object | None, owner: type) -> _Sealed[T] | T:
        if obj is None:
            return self
        cache: dict[str, Any] = obj.__dict__.setdefault("_sealed_plain", {})
        if self.name in cache:
            value: T = cache[self.name]
            return value
        sealed = getattr(obj, self.column)
        if sealed is None:
            return None  # type: ignore[return-value]  # only declared `X | None` are unset
        session = object_session(obj)
        if session is None:
            raise IdentityMissing(f"{self.name}: the object is detached from its session")
        plain: T = self._open(identity_of(session), bytes(sealed), obj)
        cache[self.name] = plain
        return plain

    def __set__(self, obj: object, value: T) -> None:
        obj.__dict__.setdefault("_sealed_plain", {})[self.name] = value
        session = object_session(obj)
        if session is not None and session.info.get(IDENTITY) is not None:
            self.store(identity_of(session), obj, value)
        else:
            obj.__dict__.setdefault(_PENDING, {})[self.name] = self

    def store(self, identity: Identity, obj: object, value: Any) -> None:
        setattr(obj, self.column, None if value is None else self._seal(identity, value, obj))
        if self.tag is not None:
            tag = None if value is None else identity.tag(int(value))
            setattr(obj, self.tag, tag)


class SealedInt(_Sealed[T]):
    def _seal(self, identity: Identity, value: Any, obj: Any) -> bytes:
        return identity.seal_int(value, self.aad(obj))

    def _open(self, identity: Identity, sealed: bytes, obj: Any) -> int:
        return identity.open_int(sealed, self.aad(obj))


class SealedText(_Sealed[T]):
    def __init__(self, column: str, purpose: str, bind: str, width: int = 32) -> None:
        super().__init__(column, purpose, bind)
        self.width = width

    def _seal(self, identity: Identity, value: Any, obj: Any) -> bytes:
        return identity.seal_text(value, self.aad(obj), self.width)

    def _open(self, identity: Identity, sealed: bytes, obj: Any) -> str:
        return identity.open_text(sealed, self.aad(obj))


class Locked(RuntimeError):
    """A `MemberSealed` value was read before its row was opened, or flushed before sealed."""


# What a MemberSealed cache entry holds before the value is sealed (its ciphertext after).
_UNSEALED = b""
_MEMBER_PLAIN = "_member_plain"


def _member_cache(obj: object) -> dict[str, tuple[bytes, Any]]:
    cache: dict[str, tuple[bytes, Any]] = obj.__dict__.setdefault(_MEMBER_PLAIN, {})
    return cache


class MemberSealed(Generic[T]):
    """A short text sealed with its member's own data key, padded to `width` (H1).

    Read it as a plain attribute once the row was opened with `open_member` (the repositories
    do it as they load rows); before that it raises `Locked`, so a path that forgot fails
    loudly. With no key (the member forgot, their key was destroyed) it reads None.
    """

    def __init__(self, column: str, purpose: str, bind: str, width: int = 32) -> None:
        self.column, self.purpose, self.bind, self.width = column, purpose, bind, width
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def aad(self, obj: Any) -> bytes:
        return f"{self.purpose}:{getattr(obj, self.bind)}".encode()

    @overload
    def __get__(self, obj: None, owner: type) -> MemberSealed[T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object | None, owner: type) -> MemberSealed[T] | T:
        if obj is None:
            return self
        sealed = getattr(obj, self.column)
        entry = _member_cache(obj).get(self.name)
        if entry is not None and (
            entry[0] == _UNSEALED or (sealed is not None and entry[0] == bytes(sealed))
        ):
            value: T = entry[1]
            return value
        if sealed is None:
            return None  # type: ignore[return-value]  # only declared `X | None`
        raise Locked(f"{self.name}: open the row with its member's key first (open_member)")

    def __set__(self, obj: object, value: T) -> None:
        _member_cache(obj)[self.name] = (_UNSEALED, value)

    def pending(self, obj: object) -> bool:
        entry = _member_cache(obj).get(self.name)
        return entry is not None and entry[0] == _UNSEALED

    def seal(self, obj: object, sealer: Sealer | None) -> None:
        entry = _member_cache(obj).get(self.name)
        if entry is None or entry[0] != _UNSEALED:
            return
        value = entry[1]
        if value is None:
            setattr(obj, self.column, None)
            del _member_cache(obj)[self.name]
            return
        if sealer is None:
            raise Locked(f"{self.name}: no member key to seal it with")
        sealed = sealer.seal(pad(str(value), self.width), self.aad(obj))
        setattr(obj, self.column, sealed)
        _member_cache(obj)[self.name] = (sealed, value)

    def open(self, obj: object, sealer: Sealer | None, legacy: Identity | None = None) -> None:
        """Open with the member's key (None: gone, the value reads None); `legacy` opens a
        value still sealed the old way, under a key derived from the master key."""
        sealed = getattr(obj, self.column)
        if sealed is None or self.pending(obj):
            return
        raw = bytes(sealed)
        entry = _member_cache(obj).get(self.name)
        if entry is not None and entry[0] == raw:
            return  # opened already
        value: str | None = None
        try:
            if legacy is not None:
                value = legacy.open_text(raw, self.aad(obj))
            elif sealer is not None:
                value = unpad(sealer.open(raw, self.aad(obj)))
        except (InvalidTag, UnicodeDecodeError):
            value = None  # one row that cannot be opened reads as shredded, for itself only
        _member_cache(obj)[self.name] = (raw, value)


_FIELDS: dict[type, tuple[MemberSealed[Any], ...]] = {}


def member_fields(obj: object) -> tuple[MemberSealed[Any], ...]:
    cls = type(obj)
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = tuple(f for f in vars(cls).values() if isinstance(f, MemberSealed))
    return found


def open_member(obj: object, sealer: Sealer | None, legacy: Identity | None = None) -> None:
    """Open every MemberSealed value of `obj` (already opened ones are left alone)."""
    for field in member_fields(obj):
        field.open(obj, sealer, legacy)


def seal_member(obj: object, sealer: Sealer | None) -> None:
    """Seal every MemberSealed value set on `obj` since it was last sealed."""
    for field in member_fields(obj):
        field.seal(obj, sealer)


@event.listens_for(Session, "before_flush")
def _seal_pending(session: Session, _context: Any, _instances: Any) -> None:
    """Values set on an object before it joined the session are sealed now."""
    for obj in list(session.new) + list(session.dirty):
        unsealed = [f.name for f in member_fields(obj) if f.pending(obj)]
        if unsealed:
            # Their key is reached asynchronously: the repository must have sealed them.
            raise Locked(f"{', '.join(unsealed)}: set but not sealed with the member's key")
        pending: dict[str, _Sealed[Any]] | None = obj.__dict__.pop(_PENDING, None)
        if not pending:
            continue
        identity = identity_of(session)
        for name, field in pending.items():
            field.store(identity, obj, obj.__dict__["_sealed_plain"][name])


def _open_all(obj: object, session: Session | None) -> None:
    """Open every sealed value as the row is loaded, so it stays readable once detached."""
    cache: dict[str, Any] = obj.__dict__.setdefault("_sealed_plain", {})
    cache.clear()
    if session is None or session.info.get(IDENTITY) is None:
        return
    for name, field in vars(type(obj)).items():
        if isinstance(field, _Sealed):
            # A row that cannot be opened fails where it is used, for that row only (M3).
            with contextlib.suppress(InvalidTag):
                getattr(obj, name)


def open_on_load(base: type) -> None:
    """Sealed values of `base`'s subclasses are opened when loaded or refreshed."""

    @event.listens_for(base, "load", propagate=True)
    def _load(target: object, context: Any) -> None:
        _open_all(target, context.session)

    @event.listens_for(base, "refresh", propagate=True)
    def _refresh(target: object, context: Any, _attrs: Any) -> None:
        _open_all(target, context.session)
