"""Developer tools, never imported by production code: local Bot API, terminal chat, benches."""
