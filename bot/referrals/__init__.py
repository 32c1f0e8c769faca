"""Referrals: a member asks a network for help; the staff group answers through the bot."""
