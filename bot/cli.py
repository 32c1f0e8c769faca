"""The commands behind `python -m bot`: each returns an exit code."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import VAR_DIR, ConfigError, Settings, load_settings
from bot.problems import ContentError

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("bot")
EXIT_CONFIG = 2


def fail(message: str, code: int = 1) -> int:
    print(message, file=sys.stderr)
    return code


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # aiogram logs every update at INFO with timings only; keep its HTTP client quieter.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # markdown-it traces every block rule it tries while guides render: tens of thousands of
    # DEBUG lines at start, about the seed content only, that bury what DEBUG is for (I1).
    logging.getLogger("markdown_it").setLevel(logging.INFO)


def dispatch(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        return fail(f"Configuration error: {exc}", EXIT_CONFIG)
    setup_logging(settings.log_level)
    if args.command == "run":
        return run(settings)
    if args.command == "webhook":
        return run(settings, mode="webhook")
    if args.command == "chat":
        from bot.devtools.chat import run_chat

        # The conversation is the output here; per-update timing lines would bury it.
        if settings.log_level != "DEBUG":
            for noisy in ("aiogram", "alembic"):
                logging.getLogger(noisy).setLevel(logging.WARNING)

        try:
            return run_chat(settings, args.lang, fresh=args.reset)
        except ContentError as exc:
            return refuse(exc)
    if args.command == "db":
        return asyncio.run(db_upgrade(settings))
    if args.command == "bench":
        if args.quick:
            os.environ["BENCH_QUICK"] = "1"  # read by benchmarks with a long full scale
        return asyncio.run(bench(args.only))
    if args.command == "backup":
        return backup(settings, args.dest)
    if args.command == "purge":
        return asyncio.run(purge(settings, args.force))
    if args.command == "report":
        return asyncio.run(report(settings, args.network, args.start, args.end, csv=args.csv))
    if args.command == "guides":
        from bot.guides.cli import run_guides_command

        return run_guides_command(args, settings)
    return fail(f"unknown command {args.command}")


async def purge(settings: Settings, force: bool) -> int:
    from bot.app import SchemaOutOfDate, create_app
    from bot.safety import retention
    from storage.crypto import MasterKeyError

    try:
        app = await create_app(settings)
    except (SchemaOutOfDate, MasterKeyError) as exc:
        return fail(f"Cannot purge: {exc}", 2)
    except ContentError as exc:
        return refuse(exc)
    try:
        if force:
            counts: dict[str, int] | None = await retention.purge(app)
        else:
            counts = await retention.purge_if_due(app, "cron-" + retention.instance_name())
    finally:
        await app.close()
    if counts is None:
        print("Skipped: an instance ran the retention pass in the last day (--force runs it).")
    else:
        print("Deleted: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


async def report(
    settings: Settings, network_id: str, start: dt.date, end: dt.date, *, csv: bool
) -> int:
    """A network's figures (issue 15), as `/stats` shows them in its group: aggregates only."""
    import html
    import re

    from bot.app import SchemaOutOfDate, create_app
    from bot.desk.service import figures
    from bot.desk.texts import stats_csv, stats_text
    from bot.dispatcher import build_i18n
    from storage.crypto import MasterKeyError

    if start > end:
        return fail("--from must not be after --to")
    try:
        app = await create_app(settings)
    except (SchemaOutOfDate, MasterKeyError) as exc:
        return fail(f"Cannot report: {exc}", 2)
    except ContentError as exc:
        return refuse(exc)
    try:
        if app.directory.network(network_id) is None:
            ids = ", ".join(n.id for n in app.directory.networks)
            return fail(f"Unknown network {network_id!r}; networks: {ids}")
        async with app.sessions() as session:
            result = await figures(
                session,
                network_id,
                start,
                end,
                overdue_after=dt.timedelta(seconds=settings.referral_remind_after),
            )
        if csv:
            print(stats_csv(result), end="")
            return 0
        i18n = build_i18n(app)
        with i18n.context(), i18n.use_locale(settings.default_language):
            text = stats_text(result, app.directory, settings.default_language)
        print(html.unescape(re.sub(r"<[^>]+>", "", text)))
        return 0
    finally:
        await app.close()


async def bench(only: str | None) -> int:
    from bot.devtools.benchmarks import report, run_all

    logging.getLogger().setLevel(logging.WARNING)
    results = await run_all(only)
    print(report(results))
    missed = [r.name for r in results if not r.ok]
    if missed:
        print("missed targets: " + ", ".join(missed), file=sys.stderr)
    return 1 if missed else 0


def backup(settings: Settings, dest: Path) -> int:
    """A copy of the database that holds no key: /forget still shreds what it holds (L7)."""
    from storage import db

    if not settings.is_sqlite:
        return fail(
            "backup copies SQLite databases; on PostgreSQL use pg_dump of DATABASE_URL only,"
            " never of KEYS_URL.",
            2,
        )
    source = Path(settings.database_url.split("///", 1)[-1])
    if not source.exists():
        return fail(f"no database at {source}", 2)
    if dest.exists():
        return fail(f"{dest} exists: choose a new file", 2)
    db.backup_sqlite(source, dest)
    print(f"Backed up the database to {dest} (without members' data keys).")
    return 0


async def db_upgrade(settings: Settings) -> int:
    from bot.app import master_key
    from storage import db
    from storage.crypto import MasterKeyError

    try:
        key = master_key(settings)  # migration 0005 hashes and seals existing rows with it
    except MasterKeyError as exc:
        return fail(f"Cannot upgrade: {exc}", 2)
    engine = db.create_engine(settings.database_url)
    try:
        await db.upgrade(engine, key)
    finally:
        await engine.dispose()
    print("The database schema is up to date.")
    return 0


def refuse(exc: ContentError) -> int:
    """Broken content: list every problem, as `guides check` does, and do not start."""
    from bot.guides.cli import shown

    for p in exc.problems:
        print(f"{shown(p.path)}:{p.line}: {p.message}", file=sys.stderr)
    return fail(
        f"Cannot start: {len(exc.problems)} problem(s) in the content "
        "(see above; `python -m bot guides check` lists them too)."
    )


async def reload_guides(app: App) -> None:
    """SIGHUP: re-read the guides; on any problem keep serving the old ones."""
    from bot.guides.cli import shown

    holder = app.library
    try:
        library = await holder.reload()
    except ContentError as exc:
        for p in exc.problems:
            log.warning("guides not reloaded: %s:%d: %s", shown(p.path), p.line, p.message)
        return
    log.info(
        "guides reloaded: %d guides, %d language versions",
        len(library.guides),
        library.version_count,
    )


def with_generated_secret(settings: Settings, path: Path = VAR_DIR / "webhook.secret") -> Settings:
    """WEBHOOK_SECRET unset: the one in var/webhook.secret, created (0600) on the first start."""
    from pydantic import SecretStr

    from bot.telegram.guard import load_or_create_secret

    secret, created = load_or_create_secret(path)
    if created:
        # Said once, on creation. The value itself stays in the file, out of logs.
        print(
            f"WEBHOOK_SECRET is not set: generated one in {path} (mode 0600). Instances that do"
            " not share this folder need the same WEBHOOK_SECRET set.",
            file=sys.stderr,
        )
    return settings.model_copy(update={"webhook_secret": SecretStr(secret)})


def run(settings: Settings, mode: str = "polling") -> int:
    if settings.bot_token is None:
        return fail("Configuration error: BOT_TOKEN is not set (get one from @BotFather)", 2)
    if mode == "webhook" and settings.webhook_url is None:
        return fail("Configuration error: webhook mode needs WEBHOOK_URL", 2)
    if mode == "webhook" and settings.webhook_secret is None:
        settings = with_generated_secret(settings)
    try:
        return asyncio.run(_run(settings, mode))
    except KeyboardInterrupt:
        return 0


async def _run(settings: Settings, mode: str) -> int:
    from aiogram import Bot
    from aiogram.client.default import DefaultBotProperties
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.enums import ParseMode
    from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError

    from bot.app import SchemaOutOfDate, create_app
    from bot.dispatcher import build_dispatcher, build_i18n
    from bot.safety import service as safety
    from bot.telegram.commands import publish
    from bot.telegram.intake import Intake
    from bot.workers import Workers, start_workers
    from storage.crypto import MasterKeyError

    assert settings.bot_token is not None
    try:
        app = await create_app(settings)
    except (SchemaOutOfDate, MasterKeyError) as exc:
        return fail(f"Cannot start: {exc}", 2)
    except ContentError as exc:
        return refuse(exc)
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    bot = Bot(
        settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
    safety.install(bot, app)  # message ids for "Clear this chat"; discreet mode
    stop = asyncio.Event()
    workers: Workers | None = None
    try:
        try:
            me = await bot.get_me()
        except TelegramUnauthorizedError:
            return fail("Cannot start: Telegram rejected BOT_TOKEN (401 Unauthorized)")
        except TelegramNetworkError:
            return fail(
                f"Cannot start: the Bot API at {settings.telegram_api_base} is unreachable"
            )
        dp = build_dispatcher(app)
        dp["bot_username"] = me.username or ""
        await publish(bot, build_i18n(app), settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        reloads: set[asyncio.Task[None]] = set()

        def on_sighup() -> None:
            task = asyncio.create_task(reload_guides(app))
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, on_sighup)
        await dp.emit_startup(bot=bot)
        intake = Intake(app, bot, dp)
        # The outbox, broadcasts and retention (bot/workers.py; the terminal chat runs the same).
        workers = start_workers(app, bot, stop)
        if mode == "webhook":
            from bot.telegram.webhook import serve

            log.info("serving the webhook as @%s on port %s", me.username, settings.port)
            poller = asyncio.create_task(serve(app, bot, dp, intake, stop))
        else:
            log.info("polling as @%s", me.username)
            poller = asyncio.create_task(intake.poll(stop))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({poller, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if poller in done:
            failure = poller.exception()
            if isinstance(failure, TelegramUnauthorizedError):
                return fail("Stopped: Telegram rejected BOT_TOKEN (401 Unauthorized)")
            if failure is not None:
                raise failure
        stopper.cancel()
        # The intake stops claiming, lets running updates finish and hands its chats back.
        try:
            await asyncio.wait_for(poller, timeout=15)
        except TimeoutError:
            log.warning("the intake did not stop in time")
        except TelegramUnauthorizedError:
            pass
        await dp.emit_shutdown(bot=bot)
        return 0
    finally:
        if workers is not None:
            await workers.close()
        await safety.close(app)
        await bot.session.close()
        await app.close()
