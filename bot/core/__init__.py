"""Core conversation: /start, language, privacy notice, the error handler and the catch-all."""
