"""Columns kept sealed at rest, read and written as plain attributes (H1).

A `SealedInt` or `SealedText` descriptor stands for a value stored only as a ciphertext (and,
for ids that must be looked up, a keyed hash beside it). The key comes from the session:
`Session.info[IDENTITY]` carries the app's `Identity`, so models stay plain and a copy of the
database without the master key holds no Telegram id and no link from a member to a need,
a country or a network. The associated data binds every ciphertext to its row, so a value
copied onto another row fails to open.

A value set before the object belongs to a session is sealed just before the flush.
"""

from __future__ import annotations

import contextlib
from typing import Any, Generic, TypeVar, overload

from cryptography.exceptions import InvalidTag
from sqlalchemy import event
from sqlalchemy.orm import Session, object_session

from storage.crypto import Identity

# The key under which sessions of the main database carry the Identity (Session.info).
IDENTITY = "identity"

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


@event.listens_for(Session, "before_flush")
def _seal_pending(session: Session, _context: Any, _instances: Any) -> None:
    """Values set on an object before it joined the session are sealed now."""
    for obj in list(session.new) + list(session.dirty):
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
