"""Telegram's HTML subset and message limits, as strict as Telegram applies them.

Content checks and the renderer use these rules to refuse what Telegram would refuse, before a
member ever sees an error; the local Bot API (bot/devtools/localapi.py) applies the same rules.
"""

from __future__ import annotations

from html.parser import HTMLParser

from aiogram.utils.formatting import sizeof

ALLOWED_TAGS = {
    "b": set(),
    "strong": set(),
    "i": set(),
    "em": set(),
    "u": set(),
    "ins": set(),
    "s": set(),
    "strike": set(),
    "del": set(),
    "code": {"class"},
    "pre": {"language"},
    "a": {"href"},
    "blockquote": {"expandable"},
    "tg-spoiler": set(),
    "span": {"class"},
    "tg-emoji": {"emoji-id"},
}
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


class EntityError(ValueError):
    pass


class _StrictHTML(HTMLParser):
    """Parses Telegram's HTML subset into plain text; raises where Telegram would refuse it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            raise EntityError(f'unsupported start tag "{tag}"')
        for name, _value in attrs:
            if name not in ALLOWED_TAGS[tag]:
                raise EntityError(f'unsupported attribute "{name}" of tag "{tag}"')
        if tag == "a" and not dict(attrs).get("href"):
            raise EntityError("empty URL in a link")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise EntityError(f'unmatched end tag "{tag}"')
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            raise EntityError("unescaped < or >")
        self.parts.append(data)

    def handle_entityref(self, name: str) -> None:
        table = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
        if name not in table:
            raise EntityError(f'unsupported entity "&{name};"')
        self.parts.append(table[name])

    def handle_charref(self, name: str) -> None:
        self.parts.append(chr(int(name[1:], 16) if name[:1] in "xX" else int(name)))

    def unknown_decl(self, data: str) -> None:
        raise EntityError("unsupported declaration")


def parse_html(text: str) -> str:
    """Telegram HTML to plain text; raises EntityError where Telegram would refuse it."""
    # A bare "&" that starts no entity is an error for Telegram, though HTMLParser lets it pass.
    for i, ch in enumerate(text):
        if ch == "&":
            end = text.find(";", i)
            if end == -1 or not text[i + 1 : end].replace("#", "").isalnum():
                raise EntityError("unescaped &")
    parser = _StrictHTML()
    parser.feed(text)
    parser.close()
    if parser.stack:
        raise EntityError(f'unclosed start tag "{parser.stack[-1]}"')
    if parser.rawdata:
        raise EntityError("unfinished tag")
    return "".join(parser.parts)


def utf16_len(text: str) -> int:
    """Telegram counts text length in UTF-16 code units; aiogram ships the count."""
    return int(sizeof(text))
