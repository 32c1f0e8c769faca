"""Markdown to Telegram HTML: one page per `## ` section, split at paragraphs when too long.

Telegram understands a small HTML subset (b, i, s, a, code, pre, blockquote), so the renderer walks
markdown-it's syntax tree itself instead of using its HTML renderer: every construct either maps
onto that subset or becomes a problem the maintainer sees in `guides check`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import NamedTuple

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from bot.telegram.html import utf16_len

# Indented code blocks are off: an accidentally indented paragraph should stay a paragraph.
_MD = (
    MarkdownIt("commonmark", {"html": True})
    .disable(["code", "reference", "lheading", "linkify", "replacements", "smartquotes"])
    .enable("strikethrough")
)
LINK_SCHEMES = ("https://", "http://", "mailto:", "tg://")
_TAGS = {"strong": "b", "em": "i", "s": "s"}


class Page(NamedTuple):
    """One screen of a guide; a tuple, as thousands are rebuilt from the cache at start."""

    heading: str  # plain text of the `## ` heading
    html: str  # heading and body as Telegram HTML


@dataclass
class Rendered:
    pages: list[Page] = field(default_factory=list)
    text: list[str] = field(default_factory=list)  # each page without tags, for search
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, message)


@dataclass
class _Unit:
    """A piece a page may end after: a paragraph, one list item, a quote. Tags are balanced."""

    html: str
    plain: str  # the text Telegram shows once it has parsed the tags
    line: int
    sep: str  # what joins it to the unit before ("\n" inside a list, else a blank line)
    size: int = 0  # UTF-16 length of `plain`, the unit Telegram counts in


Text = tuple[str, str]  # (HTML, plain text)


def _join(parts: list[Text], sep: str = "") -> Text:
    return sep.join(h for h, _ in parts), sep.join(p for _, p in parts)


def _wrap(tag: str, inner: Text, attrs: str = "") -> Text:
    return f"<{tag}{attrs}>{inner[0]}</{tag}>", inner[1]


class _Renderer:
    def __init__(self, line_offset: int) -> None:
        self.offset = line_offset
        self.problems: list[tuple[int, str]] = []
        self.tags_seen: set[tuple[int, str]] = set()

    def line(self, node: SyntaxTreeNode) -> int:
        return self.offset + (node.map[0] if node.map else 0) + 1

    def problem(self, node: SyntaxTreeNode, message: str) -> None:
        self.problems.append((self.line(node), message))

    # -- inline -----------------------------------------------------------------------------
    def inline(self, node: SyntaxTreeNode, at: SyntaxTreeNode) -> Text:
        out: list[Text] = []
        for child in node.children:
            kind = child.type
            if kind == "text":
                out.append((html.escape(child.content, quote=False), child.content))
            elif kind == "softbreak":
                out.append((" ", " "))
            elif kind == "hardbreak":
                out.append(("\n", "\n"))
            elif kind in ("strong", "em", "s"):
                out.append(_wrap(_TAGS[kind], self.inline(child, at)))
            elif kind == "code_inline":
                out.append(_wrap("code", (html.escape(child.content, quote=False), child.content)))
            elif kind == "link":
                href = str(child.attrs.get("href", ""))
                if not href.startswith(LINK_SCHEMES):
                    self.problem(at, f"link {href!r} must be a full address (https://…)")
                out.append(_wrap("a", self.inline(child, at), f' href="{html.escape(href)}"'))
            elif kind == "html_inline":
                tag = child.content.strip("</>").split()[0].lower() if child.content else ""
                # One report per tag and line: "<font>…</font>" is one mistake, not two.
                if (self.line(at), tag) not in self.tags_seen:
                    self.tags_seen.add((self.line(at), tag))
                    self.problem(at, f"unsupported HTML {child.content!r}; use Markdown")
                out.append((html.escape(child.content, quote=False), child.content))
            elif kind == "image":
                self.problem(at, "images are not supported; link to the picture instead")
            else:
                self.problem(at, f"unsupported Markdown ({kind})")
        return _join(out)

    def inline_of(self, node: SyntaxTreeNode) -> Text:
        return self.inline(node.children[0], node) if node.children else ("", "")

    # -- blocks -----------------------------------------------------------------------------
    def list_items(self, node: SyntaxTreeNode, depth: int) -> list[tuple[Text, SyntaxTreeNode]]:
        """One entry per item: its text with a bullet (or number), nested items indented."""
        ordered = node.type == "ordered_list"
        number = int(node.attrs.get("start", 1) or 1)
        indent = "    " * depth
        items = []
        for item in node.children:
            mark = f"{number}." if ordered else ("•" if depth == 0 else "◦")
            number += 1
            lines: list[Text] = []
            for part in item.children:
                if part.type == "paragraph":
                    prefix = f"{indent}{mark} " if not lines else f"{indent}  "
                    h, p = self.inline_of(part)
                    lines.append((prefix + h, prefix + p))
                elif part.type in ("bullet_list", "ordered_list"):
                    if not lines:
                        lines.append((f"{indent}{mark}", f"{indent}{mark}"))
                    lines.extend(text for text, _ in self.list_items(part, depth + 1))
                else:
                    lines.append(self.block(part))
            items.append((_join(lines, "\n") if lines else (indent + mark, indent + mark), item))
        return items

    def block(self, node: SyntaxTreeNode) -> Text:
        """A block rendered whole (inside a quote or a list item)."""
        kind = node.type
        if kind == "paragraph":
            return self.inline_of(node)
        if kind == "heading":
            if node.tag in ("h1", "h2"):
                self.problem(node, "a page heading cannot sit inside a quote or a list")
            return _wrap("b", self.inline_of(node))
        if kind in ("bullet_list", "ordered_list"):
            return _join([text for text, _ in self.list_items(node, 0)], "\n")
        if kind == "blockquote":
            return _wrap("blockquote", _join([self.block(c) for c in node.children], "\n\n"))
        if kind == "fence":
            code = node.content.rstrip("\n")
            return _wrap("pre", (html.escape(code, quote=False), code))
        if kind == "html_block":
            self.problem(node, "HTML blocks are not supported; use Markdown")
        elif kind == "hr":
            self.problem(node, "horizontal rules are not supported; start a page with '## '")
        else:
            self.problem(node, f"unsupported Markdown ({kind})")
        return "", ""

    def units(self, node: SyntaxTreeNode) -> list[_Unit]:
        if node.type in ("bullet_list", "ordered_list"):
            units = [
                _Unit(h, p, self.line(item), "\n" if i else "\n\n")
                for i, ((h, p), item) in enumerate(self.list_items(node, 0))
            ]
        else:
            h, p = self.block(node)
            units = [_Unit(h, p, self.line(node), "\n\n")] if h else []
        return units


def _measure(unit: _Unit) -> _Unit:
    unit.size = utf16_len(unit.plain)
    return unit


def render(body: str, line_offset: int, budget: int) -> Rendered:
    """Render a guide body: each `## ` section becomes one page, or several if over `budget`.

    `budget` is the room for a page's text in UTF-16 units once tags are parsed, the unit
    Telegram counts in; `line_offset` is the number of file lines before the body.
    """
    r = _Renderer(line_offset)
    out = Rendered(problems=r.problems)
    root = SyntaxTreeNode(_MD.parse(body))
    sections: list[tuple[SyntaxTreeNode, list[_Unit]]] = []
    for node in root.children:
        if node.type == "heading" and node.tag == "h2":
            sections.append((node, []))
        elif node.type == "heading" and node.tag == "h1":
            r.problem(node, "use '## ' for page headings; the title is in the front matter")
        elif not sections:
            r.problem(node, "text before the first '## ' heading; every page starts with one")
        else:
            sections[-1][1].extend(r.units(node))
    if not sections and not r.problems:
        out.problems.append((line_offset + 1, "no pages: start each page with a '## ' heading"))
    for heading, units in sections:
        h, p = _wrap("b", r.inline_of(heading))
        head = _measure(_Unit(h, p, r.line(heading), ""))
        if not units:
            r.problem(heading, "this page is empty")
            continue
        units = [_measure(u) for u in units]
        for chunk in _paginate(head, units, budget, out.problems):
            page_html = head.html + "".join(u.sep + u.html for u in chunk)
            plain = head.plain + "".join(u.sep + u.plain for u in chunk)
            out.pages.append(Page(head.plain, page_html))
            out.text.append(plain)
    return out


def _paginate(
    head: _Unit, units: list[_Unit], budget: int, problems: list[tuple[int, str]]
) -> list[list[_Unit]]:
    """Greedy: fill a page with whole units, start the next one (under the same heading)."""
    pages: list[list[_Unit]] = []
    current: list[_Unit] = []
    size = head.size
    for unit in units:
        alone = head.size + 2 + unit.size
        if alone > budget:
            problems.append(
                (
                    unit.line,
                    f"this paragraph renders to {alone} characters with its heading; a page "
                    f"holds at most {budget} here: break it into shorter paragraphs",
                )
            )
            continue
        added = len(unit.sep) if current else 2
        if current and size + added + unit.size > budget:
            pages.append(current)
            current, size, added = [], head.size, 2
        # A list item that opens a page is joined to the heading by a blank line.
        if not current:
            unit = _Unit(unit.html, unit.plain, unit.line, "\n\n", unit.size)
        current.append(unit)
        size += added + unit.size
    if current:
        pages.append(current)
    return pages
