"""Command line: `python -m bot run | chat | db upgrade | ...`.

Imports stay light until a command is chosen: importing aiogram takes seconds on a small machine,
and a person who typed a command should see at once that something is happening.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bot", description="Community Guide Bot")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser("run", help="run the bot with long polling (needs BOT_TOKEN)")
    sub.add_parser(
        "webhook",
        help="serve Telegram's webhook on PORT (needs BOT_TOKEN, WEBHOOK_URL, WEBHOOK_SECRET)",
    )
    chat = sub.add_parser("chat", help="talk to the bot in this terminal, without Telegram")
    chat.add_argument("--lang", default="en", help="your Telegram language code (default en)")
    chat.add_argument(
        "--reset",
        action="store_true",
        help="delete the chat's saved state (var/chat.sqlite3) first: start as a new member",
    )
    db = sub.add_parser("db", help="database tasks")
    db_sub = db.add_subparsers(dest="db_command", metavar="TASK", required=True)
    db_sub.add_parser("upgrade", help="apply schema migrations")
    guides = sub.add_parser("guides", help="check the guides, show translation coverage, add one")
    guides.add_argument("--dir", type=Path, help="the guides folder (default: GUIDES_DIR)")
    guides_sub = guides.add_subparsers(dest="guides_command", metavar="TASK", required=True)
    guides_sub.add_parser("check", help="validate guides and directory files; exit 1 on a problem")
    guides_sub.add_parser("coverage", help="guides x languages; each catalog's translated share")
    new = guides_sub.add_parser("new", help="scaffold guides/<slug>/ with every language's file")
    new.add_argument("slug", help="the folder name: lowercase a-z, 0-9 and '-'")
    backup = sub.add_parser(
        "backup", help="copy the database (online, consistent) without the key store"
    )
    backup.add_argument("dest", type=Path, help="the new file to write (must not exist)")
    purge = sub.add_parser("purge", help="delete data past its retention limit (for cron)")
    purge.add_argument(
        "--force", action="store_true", help="run even if an instance did so in the last day"
    )
    report = sub.add_parser(
        "report", help="a network's figures for a period: aggregates only, counts 1-4 as <5"
    )
    report.add_argument("--network", required=True, help="a network id from networks.yaml")
    report.add_argument(
        "--from", dest="start", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD"
    )
    report.add_argument(
        "--to", dest="end", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD, included"
    )
    report.add_argument("--csv", action="store_true", help="section,key,value rows")
    bench = sub.add_parser("bench", help="run the speed and memory benchmarks")
    bench.add_argument("only", nargs="?", help="run only benchmarks whose module name has this")
    bench.add_argument(
        "--quick", action="store_true", help="smaller scales where a full run takes minutes"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "chat":
        print("Starting the terminal chat… (loading takes a few seconds)", flush=True)
    elif args.command in ("run", "webhook"):
        print("Starting the bot…", file=sys.stderr, flush=True)

    from bot import cli

    return cli.dispatch(args)


if __name__ == "__main__":
    sys.exit(main())
