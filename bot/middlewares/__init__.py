"""Per-update middlewares: one transaction, the member, their language."""
