"""Telegram at the edge: HTML rules and limits, durable intake, the webhook, command menus."""
