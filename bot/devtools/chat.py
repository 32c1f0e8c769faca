"""`python -m bot chat`: the real dispatcher and handlers, talking to you in the terminal."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from bot.config import VAR_DIR, Settings, sqlite_url
from bot.devtools.localapi import Event, FakeTelegram, LocalSession

CHAT_TOKEN = "1000:local-terminal-chat"
# A pretend staff group, bound to every network, so "Ask a network" can be tried end to end;
# type "staff: some text" to answer the latest request card as its staff.
DEMO_GROUP = -100_042
STAFF = {"id": 4_242, "is_bot": False, "first_name": "Staff", "language_code": "en"}
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


USER_ID = 42  # the member you play
CHAT_DB = VAR_DIR / "chat.sqlite3"  # the terminal chat's member, requests and settings
CHAT_LOG = VAR_DIR / "chat.log"  # its log lines: never printed inside the conversation
# States in which a typed line is a name or a search, never a number: a bare number there is
# still a button tap. In every other state (a request, a reply, a PIN) the bot awaits text.
NUMBER_TAPS_IN = ("CountryChoice:", "Guides:")
HELP = (
    "Type a message or /start. A number taps that button, except while the bot waits for "
    "text such as a PIN or a request: then it is sent as text, and #2 taps button 2. #2 always "
    "taps. Ctrl-C or Ctrl-D quits. Your chat's state lives in {db}: --reset starts afresh."
)


def deleted_note(count: int) -> str:
    return (
        f"({count} message deleted from this chat)"
        if count == 1
        else (f"({count} messages deleted from this chat)")
    )


def awaits_text(state: str | None) -> bool:
    """Whether the bot takes the next line as text (a PIN, a request), not as a tap."""
    return state is not None and not state.startswith(NUMBER_TAPS_IN)


def reset(path: Path = CHAT_DB) -> list[Path]:
    """Delete the terminal chat's database and key store: a new member next time."""
    keys = path.with_name(path.stem + ".keys.sqlite3")  # storage/keystore.py: the member keys
    removed = []
    for base in (path, keys):
        for side in ("", "-wal", "-shm", "-journal"):
            candidate = base.with_name(base.name + side)
            if candidate.exists():
                candidate.unlink()
                removed.append(candidate)
    return removed


def log_to_file(path: Path = CHAT_LOG) -> None:
    """Send every log line to a file: lines inside the conversation would break it (tour 31)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            root.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)


class TerminalChat:
    def __init__(self, telegram: FakeTelegram, console: Console, user: dict[str, Any]) -> None:
        self.tg = telegram
        self.console = console
        self.user = user
        self.seen = 0
        self.buttons: list[tuple[int, int, dict[str, Any]]] = []  # (chat, message_id, button)

    def show_new_events(self) -> None:
        fresh = self.tg.events[self.seen :]
        if any((e.message or {}).get("reply_markup") for e in fresh):
            self.buttons = []  # numbers count across what one line brought
        for event in fresh:
            if event.chat_id in (0, self.user["id"], DEMO_GROUP):
                self._show(event)
        self.seen = len(self.tg.events)

    def _show(self, event: Event) -> None:
        if event.kind in ("toast", "alert"):
            self.console.print(Text(f"  ⓘ {event.text}", style="yellow"))
            return
        if event.kind == "deleted":
            count = len(event.text.split(","))
            self.console.print(Text("  " + deleted_note(count), style="dim"))
            return
        message = event.message or {}
        title = "bot (edited)" if event.kind == "edited" else "bot"
        border = "green"
        if event.chat_id == DEMO_GROUP:
            title, border = "to network group (demo): " + title, "blue"
        body = render(message.get("html") or message.get("text", ""))
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        if rows:
            body.append("\n")
            for row in rows:
                line = Text("\n")
                for button in row:
                    self.buttons.append((event.chat_id, message["message_id"], button))
                    line.append(f" [{len(self.buttons)}] ", style="bold magenta")
                    line.append(button["text"] + ("  ↗" if button.get("url") else ""))
                body.append_text(line)
        self.console.print(Panel(body, title=title, title_align="left", border_style=border))

    def to_update(self, line: str, state: str | None = None) -> dict[str, Any] | None:
        """A typed line becomes a message, or a button tap: `#2` always, a bare `2` only when
        the bot is not waiting for text (`state`: the member's FSM state), so a PIN such as
        0001 is never taken for a tap (tour finding 30)."""
        if line.lower().startswith("staff:"):
            return self.staff_reply(line[len("staff:") :].strip())
        number = None
        if line.startswith("#") and line[1:].isdigit():
            number = int(line[1:])
            if not 1 <= number <= len(self.buttons):
                self.console.print(Text(f"  (no button {number} on screen)", style="dim"))
                return None
        elif line.isdigit() and 1 <= int(line) <= len(self.buttons) and not awaits_text(state):
            number = int(line)
        if number is not None:
            chat_id, message_id, button = self.buttons[number - 1]
            if button.get("url"):
                self.console.print(Text(f"  ↗ opens {button['url']}", style="blue"))
                return None
            if "callback_data" not in button:
                self.console.print(Text("  (this button works only in Telegram)", style="dim"))
                return None
            who = STAFF if chat_id == DEMO_GROUP else self.user
            return self.tg.user_tap(who, chat_id, message_id, button["callback_data"])
        return self.tg.user_message(self.user, line)

    def staff_reply(self, text: str) -> dict[str, Any] | None:
        cards = sorted(
            mid
            for (cid, mid), m in self.tg.messages.items()
            if cid == DEMO_GROUP and m.get("from", {}).get("is_bot") and "📨" in m.get("text", "")
        )
        if not cards or not text:
            self.console.print(Text("  (no request card in the demo group yet)", style="dim"))
            return None
        return self.tg.user_message(STAFF, text, chat_id=DEMO_GROUP, reply_to=cards[-1])


def run_chat(settings: Settings, lang: str, fresh: bool = False) -> int:
    log_to_file()
    if fresh:
        removed = reset()
        print(
            "Saved state deleted: you start as a new member."
            if removed
            else "No saved state: you start as a new member."
        )
    saved = None
    if sys.stdin.isatty():
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (arrow keys and history for input())
        with contextlib.suppress(ImportError, OSError):
            import termios

            saved = termios.tcgetattr(sys.stdin)
    try:
        return asyncio.run(_chat(settings, lang))
    except KeyboardInterrupt:
        print()
        return 0
    finally:
        if saved is not None:  # Ctrl-C may stop input() half-way: give the terminal back as it was
            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, saved)


def read_lines(
    loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None], prompt: str
) -> None:
    """Read stdin in a daemon thread: Ctrl-C then quits at once, without waiting for Enter."""
    while True:
        try:
            line: str | None = input(prompt)
        except (EOFError, KeyboardInterrupt):
            line = None
        loop.call_soon_threadsafe(queue.put_nowait, line)
        if line is None:
            return


async def _chat(settings: Settings, lang: str) -> int:
    from aiogram import Bot
    from aiogram.client.default import DefaultBotProperties
    from aiogram.enums import ParseMode
    from aiogram.fsm.storage.base import StorageKey
    from aiogram.types import Update

    from bot.app import create_app
    from bot.dispatcher import build_dispatcher, build_i18n
    from bot.referrals.service import Referrals
    from bot.safety.service import close as close_safety
    from bot.safety.service import install
    from bot.telegram.commands import publish
    from bot.telegram.intake import Intake
    from bot.workers import start_workers
    from storage.repositories import GroupRepo

    interactive = sys.stdin.isatty()
    console = Console(highlight=False, force_terminal=interactive or None)
    local = settings.model_copy(update={"database_url": sqlite_url(CHAT_DB), "redis_url": None})
    app = await create_app(local)
    telegram = FakeTelegram()
    # The chat's database outlives a run: without fresh update ids, the inbox would drop this
    # run's first lines as repeats of the last run's.
    telegram._update_ids = itertools.count(time.time_ns() // 1_000_000)
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
    telegram.chat(DEMO_GROUP, "supergroup", title="Network staff (demo)")
    async with app.sessions.begin() as session:
        bound = {g.network_id for g in await GroupRepo(session).all() if g.active}
        for network in app.directory.networks:
            if network.id not in bound:
                await Referrals(session, app).bind(network.id, DEMO_GROUP)
    # The workers of `python -m bot run`: cards and relays, alerts and news, retention.
    stop = asyncio.Event()
    workers = start_workers(app, bot, stop)
    delivery = workers.delivery
    user = {"id": USER_ID, "is_bot": False, "first_name": "You", "language_code": lang}
    chat = TerminalChat(telegram, console, user)
    telegram.events.clear()
    if interactive:
        console.print(Text(HELP.format(db=CHAT_DB), style="dim"))
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    reader = threading.Thread(
        target=read_lines,
        args=(asyncio.get_running_loop(), lines, "you › " if interactive else ""),
        daemon=True,
    )
    reader.start()
    key = StorageKey(bot_id=bot.id, chat_id=USER_ID, user_id=USER_ID)
    try:
        while True:
            try:
                # Between lines, show what the worker sent late (a card edit after a withdrawal).
                line = await asyncio.wait_for(lines.get(), timeout=0.3)
            except TimeoutError:
                chat.show_new_events()
                continue
            if line is None:
                break
            line = line.strip()
            if not line:
                continue
            if not interactive:
                console.print(Text(f"you › {line}", style="bold"))
            raw = chat.to_update(line, await dp.fsm.storage.get_state(key))
            if raw is not None:
                await intake.feed(Update.model_validate(raw, context={"bot": bot}))
                await delivery.drain()  # so cards and relays show right after the line
            chat.show_new_events()
    finally:
        await workers.close()
        await close_safety(app)
        await bot.session.close()
        await app.close()
    if interactive:
        console.print("[dim]Bye.[/dim]")
    return 0
