"""Command line: `python -m bot run | chat | db upgrade | ...`.

Imports stay light until a command is chosen: importing aiogram takes seconds on a small machine,
and a person who typed a command should see at once that something is happening.
"""

from __future__ import annotations

import argparse
import sys


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
    db = sub.add_parser("db", help="database tasks")
    db_sub = db.add_subparsers(dest="db_command", metavar="TASK", required=True)
    db_sub.add_parser("upgrade", help="apply schema migrations")
    bench = sub.add_parser("bench", help="run the speed and memory benchmarks")
    bench.add_argument("only", nargs="?", help="run only benchmarks whose module name has this")
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
