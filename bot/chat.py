"""`python -m bot chat`: the real dispatcher and handlers, talking to you in the terminal."""

from __future__ import annotations

import asyncio
import sys
from html.parser import HTMLParser
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from bot.config import VAR_DIR, Settings, sqlite_url
from bot.localapi import Event, FakeTelegram, LocalSession

CHAT_TOKEN = "1000:local-terminal-chat"
STYLES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strike",
    "strike": "strike",
    "del": "strike",
    "code": "cyan",
    "pre": "cyan",
    "a": "underline blue",
    "blockquote": "dim",
    "tg-spoiler": "reverse",
}


class _RichHTML(HTMLParser):
    """Telegram HTML to rich Text (Telegram's subset only, so a few lines are enough)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = Text()
        self.styles: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.styles.append(STYLES.get(tag, ""))
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")
        if tag == "blockquote":
            self.text.append("▍ ", style="dim")

    def handle_endtag(self, tag: str) -> None:
        if self.styles:
            self.styles.pop()
        if tag == "a" and self.links:
            self.text.append(f" ({self.links.pop()})", style="dim")

    def handle_data(self, data: str) -> None:
        self.text.append(data, style=" ".join(s for s in self.styles if s))


def render(html: str) -> Text:
    parser = _RichHTML()
    parser.feed(html)
    parser.close()
    return parser.text


class TerminalChat:
    def __init__(self, telegram: FakeTelegram, console: Console, user: dict[str, Any]) -> None:
        self.tg = telegram
        self.console = console
        self.user = user
        self.seen = 0
        self.buttons: list[tuple[int, dict[str, Any]]] = []  # (message_id, button)

    def show_new_events(self) -> None:
        for event in self.tg.events[self.seen :]:
            self._show(event)
        self.seen = len(self.tg.events)

    def _show(self, event: Event) -> None:
        if event.kind in ("toast", "alert"):
            self.console.print(Text(f"  ⓘ {event.text}", style="yellow"))
            return
        if event.kind == "deleted":
            count = len(event.text.split(","))
            self.console.print(Text(f"  ({count} message(s) deleted from this chat)", style="dim"))
            return
        message = event.message or {}
        title = "bot (edited)" if event.kind == "edited" else "bot"
        body = render(message.get("html") or message.get("text", ""))
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        if rows:
            self.buttons = []
            body.append("\n")
            for row in rows:
                line = Text("\n")
                for button in row:
                    self.buttons.append((message["message_id"], button))
                    line.append(f" [{len(self.buttons)}] ", style="bold magenta")
                    line.append(button["text"] + ("  ↗" if button.get("url") else ""))
                body.append_text(line)
        self.console.print(Panel(body, title=title, title_align="left", border_style="green"))

    def to_update(self, line: str) -> dict[str, Any] | None:
        """A typed line becomes a message, or a button tap when it is a shown button's number."""
        if line.isdigit() and 1 <= int(line) <= len(self.buttons):
            message_id, button = self.buttons[int(line) - 1]
            if button.get("url"):
                self.console.print(Text(f"  ↗ opens {button['url']}", style="blue"))
                return None
            if "callback_data" not in button:
                self.console.print(Text("  (this button works only in Telegram)", style="dim"))
                return None
            return self.tg.user_tap(
                self.user, self.user["id"], message_id, button["callback_data"]
            )
        return self.tg.user_message(self.user, line)


def run_chat(settings: Settings, lang: str) -> int:
    try:
        return asyncio.run(_chat(settings, lang))
    except KeyboardInterrupt:
        return 0


async def _chat(settings: Settings, lang: str) -> int:
    from aiogram import Bot
    from aiogram.client.default import DefaultBotProperties
    from aiogram.enums import ParseMode
    from aiogram.types import Update

    from bot.app import create_app
    from bot.commands import publish
    from bot.dispatcher import build_dispatcher, build_i18n
    from bot.intake import Intake
    from bot.safety import close as close_safety
    from bot.safety import install

    interactive = sys.stdin.isatty()
    console = Console(highlight=False, force_terminal=interactive or None)
    local = settings.model_copy(
        update={"database_url": sqlite_url(VAR_DIR / "chat.sqlite3"), "redis_url": None}
    )
    app = await create_app(local)
    telegram = FakeTelegram()
    bot = Bot(
        CHAT_TOKEN,
        session=LocalSession(telegram),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
    install(bot, app)
    dp = build_dispatcher(app)
    dp["bot_username"] = telegram.bot_user["username"]
    await publish(bot, build_i18n(app), local)
    intake = Intake(app, bot, dp)
    user = {"id": 42, "is_bot": False, "first_name": "You", "language_code": lang}
    chat = TerminalChat(telegram, console, user)
    telegram.events.clear()
    if interactive:
        console.print(
            "[dim]Type a message or /start; a number taps that button; Ctrl-D quits.[/dim]"
        )
    try:
        while True:
            try:
                line = await asyncio.to_thread(input, "you › " if interactive else "")
            except EOFError:
                break
            line = line.strip()
            if not line:
                continue
            if not interactive:
                console.print(Text(f"you › {line}", style="bold"))
            raw = chat.to_update(line)
            if raw is not None:
                await intake.feed(Update.model_validate(raw, context={"bot": bot}))
            chat.show_new_events()
    finally:
        await close_safety(app)
        await bot.session.close()
        await app.close()
    if interactive:
        console.print("[dim]Bye.[/dim]")
    return 0
