"""An in-process stand-in for the Telegram Bot API.

The terminal chat runs the real dispatcher against it, and the tests put it behind HTTP. It keeps
each chat's messages, records every call, and is as strict as Telegram where it matters: HTML
must parse, text must fit 4,096 characters, callback data 64 bytes, an edit that changes
nothing is refused with "message is not modified", and a group takes 20 messages a minute (a
429 with retry_after past that).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from aiogram.client.session.base import BaseSession

from bot.telegram.html import CAPTION_LIMIT, TEXT_LIMIT, EntityError, parse_html, utf16_len

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from aiogram import Bot
    from aiogram.methods import TelegramMethod
    from aiogram.methods.base import TelegramType

BOT_USER = {
    "id": 1000,
    "is_bot": True,
    "first_name": "Community Guide Bot",
    "username": "community_guide_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": True,
}
Params = dict[str, Any]
# Telegram's FAQ: no more than 20 messages a minute in one group.
GROUP_LIMIT, GROUP_WINDOW = 20, 60.0
# What a copy takes over from the original message.
MEDIA_KEYS = frozenset(
    {"photo", "voice", "audio", "video", "video_note", "animation", "document", "sticker"}
)
# Methods that post a new message (edits are not counted).
SENDING = frozenset(
    {"sendmessage", "copymessage", "sendphoto", "sendvoice", "senddocument", "sendvideo"}
)
Reply = tuple[int, dict[str, Any]]
Fault = Callable[[str, Params], Awaitable[Reply | None] | Reply | None]


@dataclass
class Call:
    method: str
    params: Params
    at: float = field(default_factory=time.monotonic)


@dataclass
class Event:
    """What a person in a chat would notice: a message sent, edited, or deleted; a toast."""

    kind: str  # "sent" | "edited" | "deleted" | "toast" | "alert"
    chat_id: int
    message: dict[str, Any] | None = None
    text: str = ""


class FakeTelegram:
    def __init__(self, bot_user: dict[str, Any] | None = None) -> None:
        self.bot_user = dict(bot_user or BOT_USER)
        self.calls: list[Call] = []
        self.events: list[Event] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.chats: dict[int, dict[str, Any]] = {}
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._update_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self.updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.confirmed_offset = 0
        self.unconfirmed: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        # Group admins as Telegram reports them (getChatMember): chat id -> user ids.
        self.admins: dict[int, set[int]] = {}
        self.changed = asyncio.Event()
        self.closing = asyncio.Event()
        # Telegram's limit in a group: `group_limit` messages per `group_window` seconds, and a
        # 429 with retry_after past it (None: unlimited). `clock` may be a test's fake clock.
        self.group_limit: int | None = GROUP_LIMIT
        self.group_window = GROUP_WINDOW
        self.clock: Callable[[], float] = time.monotonic
        self.group_sends: dict[int, collections.deque[float]] = {}
        self.refused_429 = 0

    # -- what a test or the terminal chat does as a person ------------------------------------
    def chat(
        self, chat_id: int, type_: str = "private", title: str | None = None
    ) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": type_}
        if title:
            chat["title"] = title
        if type_ == "private":
            chat["first_name"] = "Member"
        return self.chats.setdefault(chat_id, chat)

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def user_message(
        self,
        user: dict[str, Any],
        text: str | None = None,
        chat_id: int | None = None,
        reply_to: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Record a message a person sends and return the update Telegram would deliver."""
        cid = chat_id if chat_id is not None else user["id"]
        chat = self.chats.get(cid) or self.chat(cid)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(cid),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            **extra,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                length = len(text.split()[0])
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        if reply_to is not None and (cid, reply_to) in self.messages:
            message["reply_to_message"] = self.messages[(cid, reply_to)]
        self.messages[(cid, message["message_id"])] = message
        return self.update(message=message)

    def user_media(
        self,
        user: dict[str, Any],
        kind: str,
        chat_id: int | None = None,
        reply_to: int | None = None,
        caption: str | None = None,
        size: int = 40_000,
    ) -> dict[str, Any]:
        """A photo, voice note, video, document... as Telegram delivers it (ids made up)."""
        unique = f"{kind}-{next(self._file_ids)}"
        file = {"file_id": "F" + unique, "file_unique_id": unique, "file_size": size}
        contents: dict[str, dict[str, Any]] = {
            "photo": {"photo": [file | {"width": 1280, "height": 960}]},
            "voice": {"voice": file | {"duration": 7, "mime_type": "audio/ogg"}},
            "audio": {"audio": file | {"duration": 180}},
            "video": {"video": file | {"width": 1280, "height": 720, "duration": 60}},
            "video_note": {"video_note": file | {"length": 240, "duration": 10}},
            "animation": {"animation": file | {"width": 320, "height": 240, "duration": 3}},
            "document": {"document": file | {"file_name": "scan.pdf"}},
            "sticker": {
                "sticker": file
                | {"type": "regular", "width": 512, "height": 512}
                | {"is_animated": False, "is_video": False}
            },
        }
        content = dict(contents[kind])
        if caption is not None:
            content["caption"] = caption
        return self.user_message(user, None, chat_id=chat_id, reply_to=reply_to, **content)

    def user_tap(
        self, user: dict[str, Any], chat_id: int, message_id: int, data: str
    ) -> dict[str, Any]:
        message = self.messages.get((chat_id, message_id)) or {
            "message_id": message_id,
            "date": 0,
            "chat": self.chats.get(chat_id) or self.chat(chat_id),
        }
        query = {
            "id": str(next(self._update_ids) * 7919),
            "from": user,
            "chat_instance": str(chat_id),
            "message": message,
            "data": data,
        }
        return self.update(callback_query=query)

    def update(self, **content: Any) -> dict[str, Any]:
        return {"update_id": next(self._update_ids), **content}

    def buttons(self, chat_id: int, message_id: int) -> list[dict[str, Any]]:
        markup = self.messages.get((chat_id, message_id), {}).get("reply_markup") or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]

    def sent(self, method: str | None = None, chat_id: int | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if (method is None or c.method == method)
            and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
        ]

    # -- the Bot API side -----------------------------------------------------------------------
    async def handle(self, method: str, params: Params) -> Reply:
        params = {k: _decode(v) for k, v in params.items()}
        self.calls.append(Call(method, params))
        for fault in self.faults:
            outcome = fault(method, params)
            if asyncio.iscoroutine(outcome):
                outcome = await outcome
            if outcome is not None:
                return cast(Reply, outcome)
        if (limited := self._over_group_limit(method, params)) is not None:
            return limited
        handler = getattr(self, "api_" + method.lower(), None)
        try:
            result = await handler(params) if handler else True
        except EntityError as exc:
            return error(400, f"Bad Request: can't parse entities: {exc}")
        except ApiError as exc:
            return exc.reply
        self._count_group_send(method, params)
        self.changed.set()
        return 200, {"ok": True, "result": result}

    def _group_chat(self, method: str, params: Params) -> int | None:
        if method.lower() not in SENDING or self.group_limit is None:
            return None
        try:
            chat_id = int(params.get("chat_id") or 0)
        except (TypeError, ValueError):
            return None
        return chat_id if chat_id < 0 else None

    def _over_group_limit(self, method: str, params: Params) -> Reply | None:
        chat_id = self._group_chat(method, params)
        if chat_id is None or self.group_limit is None:
            return None
        now = self.clock()
        sends = self.group_sends.setdefault(chat_id, collections.deque())
        while sends and sends[0] <= now - self.group_window:
            sends.popleft()
        if len(sends) < self.group_limit:
            return None
        self.refused_429 += 1
        wait = max(1, math.ceil(sends[0] + self.group_window - now))
        return error(429, f"Too Many Requests: retry after {wait}", retry_after=wait)

    def _count_group_send(self, method: str, params: Params) -> None:
        chat_id = self._group_chat(method, params)
        if chat_id is not None:
            self.group_sends.setdefault(chat_id, collections.deque()).append(self.clock())

    async def api_getme(self, params: Params) -> Any:
        return self.bot_user

    async def api_getupdates(self, params: Params) -> Any:
        offset = int(params.get("offset") or 0)
        if offset:
            self.confirmed_offset = max(self.confirmed_offset, offset)
        # As Telegram: what was sent but not confirmed by a higher offset comes again.
        self.unconfirmed = [u for u in self.unconfirmed if u["update_id"] >= offset]
        if self.unconfirmed:
            return list(self.unconfirmed[:100])
        timeout = float(params.get("timeout") or 0)
        batch: list[dict[str, Any]] = []
        if self.updates.empty():
            # Long poll: wait for an update, the timeout, or the server closing down.
            getter = asyncio.ensure_future(self.updates.get())
            closer = asyncio.ensure_future(self.closing.wait())
            done, pending = await asyncio.wait(
                {getter, closer}, timeout=max(timeout, 0.01), return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in pending:
                waiter.cancel()
            if getter in done:
                batch.append(getter.result())
        while not self.updates.empty() and len(batch) < 100:
            batch.append(self.updates.get_nowait())
        # Added to, not replaced: another long poll (one a killed process left open) may have
        # taken an update meanwhile, and Telegram would give it to whoever asks next.
        self.unconfirmed = self.unconfirmed + batch
        return list(self.unconfirmed[:100])

    def _text(self, params: Params, key: str = "text", limit: int = TEXT_LIMIT) -> tuple[str, str]:
        raw = str(params.get(key) or "")
        plain = parse_html(raw) if params.get("parse_mode") == "HTML" else raw
        if not plain.strip():
            raise ApiError(error(400, "Bad Request: message text is empty"))
        if utf16_len(plain) > limit:
            raise ApiError(error(400, "Bad Request: message is too long"))
        return raw, plain

    def _markup(self, params: Params) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if not isinstance(markup, dict):
            return None
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise ApiError(error(400, "Bad Request: BUTTON_DATA_INVALID"))
        return markup

    async def api_sendmessage(self, params: Params) -> Any:
        chat_id = int(params["chat_id"])
        raw, plain = self._text(params)
        chat = self.chats.get(chat_id) or self.chat(chat_id, "private" if chat_id > 0 else "group")
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot_user,
            "text": plain,
            "html": raw,
        }
        markup = self._markup(params)
        if markup:
            message["reply_markup"] = markup
        reply = params.get("reply_parameters")
        reply_to = (reply or {}).get("message_id") or params.get("reply_to_message_id")
        if reply_to and (chat_id, int(reply_to)) in self.messages:
            message["reply_to_message"] = _public(self.messages[(chat_id, int(reply_to))])
        self.messages[(chat_id, message["message_id"])] = message
        self.events.append(Event("sent", chat_id, message))
        return _public(message)

    async def api_copymessage(self, params: Params) -> Any:
        """A copy has no forward header and names no sender; its caption may be replaced."""
        chat_id = int(params["chat_id"])
        source = self.messages.get((int(params["from_chat_id"]), int(params["message_id"])))
        if source is None:
            raise ApiError(error(400, "Bad Request: message to copy not found"))
        media = {k: v for k, v in source.items() if k in MEDIA_KEYS}
        if not media and "text" not in source:
            raise ApiError(error(400, "Bad Request: the message can't be copied"))
        chat = self.chats.get(chat_id) or self.chat(chat_id, "private" if chat_id > 0 else "group")
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot_user,
            **media,
        }
        if "text" in source:
            message.update(text=source["text"], html=source.get("html", source["text"]))
        elif "caption" in params:
            raw = str(params.get("caption") or "")
            plain = parse_html(raw) if params.get("parse_mode") == "HTML" else raw
            if utf16_len(plain) > CAPTION_LIMIT:
                raise ApiError(error(400, "Bad Request: message caption is too long"))
            if plain:
                message.update(caption=plain, caption_html=raw)
        elif "caption" in source:
            message["caption"] = source["caption"]
        markup = self._markup(params)
        if markup:
            message["reply_markup"] = markup
        reply = params.get("reply_parameters")
        reply_to = (reply or {}).get("message_id") or params.get("reply_to_message_id")
        if reply_to and (chat_id, int(reply_to)) in self.messages:
            message["reply_to_message"] = _public(self.messages[(chat_id, int(reply_to))])
        if str(params.get("protect_content")).lower() == "true":
            message["has_protected_content"] = True
        self.messages[(chat_id, message["message_id"])] = message
        self.events.append(Event("sent", chat_id, message))
        return {"message_id": message["message_id"]}

    async def api_editmessagetext(self, params: Params) -> Any:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        message = self.messages.get((chat_id, message_id))
        if message is None:
            raise ApiError(error(400, "Bad Request: message to edit not found"))
        raw, plain = self._text(params)
        markup = self._markup(params)
        if raw == message.get("html", message.get("text")) and markup == message.get(
            "reply_markup"
        ):
            raise ApiError(
                error(
                    400,
                    "Bad Request: message is not modified: specified new message content"
                    " and reply markup are exactly the same as a current content and reply markup"
                    " of the message",
                )
            )
        message.update(text=plain, html=raw, edit_date=int(time.time()))
        message.pop("reply_markup", None)
        if markup:
            message["reply_markup"] = markup
        self.events.append(Event("edited", chat_id, message))
        return _public(message)

    async def api_editmessagereplymarkup(self, params: Params) -> Any:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        message = self.messages.get((chat_id, message_id))
        if message is None:
            raise ApiError(error(400, "Bad Request: message to edit not found"))
        markup = self._markup(params)
        if markup == message.get("reply_markup"):
            raise ApiError(error(400, "Bad Request: message is not modified"))
        message.pop("reply_markup", None)
        if markup:
            message["reply_markup"] = markup
        self.events.append(Event("edited", chat_id, message))
        return _public(message)

    async def api_deletemessage(self, params: Params) -> Any:
        return await self.api_deletemessages(
            {"chat_id": params["chat_id"], "message_ids": [params["message_id"]]}
        )

    async def api_deletemessages(self, params: Params) -> Any:
        chat_id = int(params["chat_id"])
        ids = [int(i) for i in params["message_ids"]]
        if not 1 <= len(ids) <= 100:
            raise ApiError(error(400, "Bad Request: too many messages to delete"))
        for message_id in ids:
            self.messages.pop((chat_id, message_id), None)
        self.events.append(Event("deleted", chat_id, text=",".join(map(str, ids))))
        return True

    async def api_getchatmember(self, params: Params) -> Any:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        user = {"id": user_id, "is_bot": False, "first_name": "Member"}
        if user_id in self.admins.get(chat_id, set()):
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": False,
                "can_restrict_members": False,
                "can_promote_members": False,
                "can_change_info": False,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
                "can_send_welcome_messages": False,
            }
        return {"status": "member", "user": user}

    async def api_answercallbackquery(self, params: Params) -> Any:
        text = str(params.get("text") or "")
        if len(text) > 200:
            raise ApiError(error(400, "Bad Request: MESSAGE_TOO_LONG"))
        if text:
            kind = "alert" if str(params.get("show_alert")).lower() == "true" else "toast"
            self.events.append(Event(kind, 0, text=text))
        return True

    async def api_answerinlinequery(self, params: Params) -> Any:
        results = params.get("results") or []
        if len(results) > 50:
            raise ApiError(error(400, "Bad Request: RESULTS_TOO_MUCH"))
        for result in results:
            content = result.get("input_message_content") or {}
            if content.get("parse_mode") == "HTML":
                parse_html(content.get("message_text", ""))
        return True


class ApiError(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


def error(code: int, description: str, **parameters: Any) -> Reply:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return code, body


def _decode(value: Any) -> Any:
    # Form fields arrive as strings; objects and lists as JSON text, as aiogram sends them.
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k not in ("html", "caption_html")}


class LocalSession(BaseSession):
    """An aiogram session that talks to a FakeTelegram in the same process, with no network."""

    def __init__(self, telegram: FakeTelegram) -> None:
        super().__init__()
        self.telegram = telegram

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> TelegramType:
        files: dict[str, Any] = {}
        params = {
            key: prepared
            for key, value in method.model_dump(warnings=False).items()
            if (prepared := self.prepare_value(value, bot=bot, files=files)) is not None
        }
        status, body = await self.telegram.handle(method.__api_method__, params)
        response = self.check_response(bot, method, status, json.dumps(body))
        return cast("TelegramType", response.result)

    async def raw_call(self, bot: Bot, method: TelegramMethod[Any]) -> tuple[int, str]:
        """The status and body as text, unparsed (the intake reads getUpdates this way)."""
        files: dict[str, Any] = {}
        params = {
            key: prepared
            for key, value in method.model_dump(warnings=False).items()
            if (prepared := self.prepare_value(value, bot=bot, files=files)) is not None
        }
        status, body = await self.telegram.handle(method.__api_method__, params)
        return status, json.dumps(body)

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - aiogram's signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield b""

    async def close(self) -> None:
        return None
