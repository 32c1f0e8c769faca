"""Community Guide Bot: guides, services and referrals for sex workers' networks on Telegram."""
