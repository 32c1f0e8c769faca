"""A bare aiogram echo bot in webhook mode: the yardstick `make bench` measures the bot against.

`python -m bot.devtools.benchmarks.echo_bot`, with BOT_TOKEN, TELEGRAM_API_BASE, WEBHOOK_SECRET
and PORT in the environment.
"""

import os

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

dp = Dispatcher()


@dp.message()
async def echo(message: Message) -> None:
    await message.answer(message.text or "…")


if __name__ == "__main__":
    api = TelegramAPIServer.from_base(os.environ["TELEGRAM_API_BASE"])
    bot = Bot(os.environ["BOT_TOKEN"], session=AiohttpSession(api=api))
    app = web.Application()
    secret = os.environ["WEBHOOK_SECRET"]
    SimpleRequestHandler(dp, bot, secret_token=secret).register(app, path="/telegram")
    setup_application(app, dp, bot=bot)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None)
