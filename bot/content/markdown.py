"""Markdown to Telegram HTML: one page per `## ` section, split at paragraphs when too long.

Telegram understands a small HTML subset (b, i, s, a, code, pre, blockquote), so the renderer walks
markdown-it's syntax tree itself instead of using its HTML renderer: every construct either maps
onto that subset or becomes a problem the maintainer sees in `guides check`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from bot.localapi import ALLOWED_TAGS, EntityError, parse_html, utf16_len

# Indented code blocks are off: an accidentally indented paragraph should stay a paragraph.
_MD = (
    MarkdownIt("commonmark", {"html": True})
    .disable(["code", "reference", "lheading", "linkify", "replacements", "smartquotes"])
    .enable("strikethrough")
)
LINK_SCHEMES = ("https://", "http://", "mailto:", "tg://")
INLINE_TAGS = frozenset(ALLOWED_TAGS) - {"pre", "blockquote"}


@dataclass(frozen=True, slots=True)
class Page:
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
    line: int
    sep: str  # what joins it to the unit before ("\n" inside a list, else a blank line)
    size: int = 0  # UTF-16 length once parsed
    plain: str = ""


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
    def inline(self, node: SyntaxTreeNode, at: SyntaxTreeNode) -> str:
        out: list[str] = []
        for child in node.children:
            kind = child.type
            if kind == "text":
                out.append(html.escape(child.content, quote=False))
            elif kind == "softbreak":
                out.append(" ")
            elif kind == "hardbreak":
                out.append("\n")
            elif kind in ("strong", "em", "s"):
                tag = {"strong": "b", "em": "i", "s": "s"}[kind]
                out.append(f"<{tag}>{self.inline(child, at)}</{tag}>")
            elif kind == "code_inline":
                out.append(f"<code>{html.escape(child.content, quote=False)}</code>")
            elif kind == "link":
                href = str(child.attrs.get("href", ""))
                if not href.startswith(LINK_SCHEMES):
                    self.problem(at, f"link {href!r} must be a full address (https://…)")
                out.append(f'<a href="{html.escape(href)}">{self.inline(child, at)}</a>')
            elif kind == "html_inline":
                tag = child.content.strip("</>").split()[0].lower() if child.content else ""
                if tag not in INLINE_TAGS:
                    # One report per tag and line: "<font>…</font>" is one mistake, not two.
                    if (self.line(at), tag) not in self.tags_seen:
                        self.tags_seen.add((self.line(at), tag))
                        self.problem(at, f"unsupported HTML {child.content!r}; use Markdown")
                    out.append(html.escape(child.content, quote=False))
                else:
                    out.append(child.content)
            elif kind == "image":
                self.problem(at, "images are not supported; link to the picture instead")
            else:
                self.problem(at, f"unsupported Markdown ({kind})")
        return "".join(out)

    def inline_of(self, node: SyntaxTreeNode) -> str:
        return self.inline(node.children[0], node) if node.children else ""

    # -- blocks -----------------------------------------------------------------------------
    def list_lines(self, node: SyntaxTreeNode, depth: int) -> list[tuple[str, SyntaxTreeNode]]:
        """One entry per item: its text with a bullet (or number), nested items indented."""
        ordered = node.type == "ordered_list"
        number = int(node.attrs.get("start", 1) or 1)
        indent = "    " * depth
        items = []
        for item in node.children:
            mark = f"{number}." if ordered else ("•" if depth == 0 else "◦")
            number += 1
            lines: list[str] = []
            for part in item.children:
                if part.type == "paragraph":
                    text = self.inline_of(part)
                    lines.append(f"{indent}{mark} {text}" if not lines else f"{indent}  {text}")
                elif part.type in ("bullet_list", "ordered_list"):
                    if not lines:
                        lines.append(f"{indent}{mark}")
                    lines.extend(text for text, _ in self.list_lines(part, depth + 1))
                else:
                    lines.append(self.block_html(part))
            items.append(("\n".join(lines) or f"{indent}{mark}", item))
        return items

    def block_html(self, node: SyntaxTreeNode) -> str:
        """A block rendered whole (inside a quote or a list item)."""
        kind = node.type
        if kind == "paragraph":
            return self.inline_of(node)
        if kind == "heading":
            if node.tag in ("h1", "h2"):
                self.problem(node, "a page heading cannot sit inside a quote or a list")
            return f"<b>{self.inline_of(node)}</b>"
        if kind in ("bullet_list", "ordered_list"):
            return "\n".join(text for text, _ in self.list_lines(node, 0))
        if kind == "blockquote":
            inner = "\n\n".join(self.block_html(child) for child in node.children)
            return f"<blockquote>{inner}</blockquote>"
        if kind == "fence":
            return f"<pre>{html.escape(node.content.rstrip(chr(10)), quote=False)}</pre>"
        if kind == "html_block":
            self.problem(node, "HTML blocks are not supported; use Markdown")
        elif kind == "hr":
            self.problem(node, "horizontal rules are not supported; start a page with '## '")
        else:
            self.problem(node, f"unsupported Markdown ({kind})")
        return ""

    def units(self, node: SyntaxTreeNode) -> list[_Unit]:
        if node.type in ("bullet_list", "ordered_list"):
            items = self.list_lines(node, 0)
            return [
                _Unit(text, self.line(item), "\n" if i else "\n\n")
                for i, (text, item) in enumerate(items)
            ]
        text = self.block_html(node)
        return [_Unit(text, self.line(node), "\n\n")] if text else []


def _measure(unit: _Unit, problems: list[tuple[int, str]]) -> bool:
    try:
        unit.plain = parse_html(unit.html)
        unit.size = utf16_len(unit.plain)
    except EntityError as exc:
        problems.append((unit.line, f"invalid HTML: {exc}"))
        return False
    return True


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
        head = _Unit(f"<b>{r.inline_of(heading)}</b>", r.line(heading), "")
        if not _measure(head, out.problems):
            continue
        if not units:
            r.problem(heading, "this page is empty")
            continue
        units = [u for u in units if _measure(u, out.problems)]
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
        current.append(
            unit if current else _Unit(unit.html, unit.line, "\n\n", unit.size, unit.plain)
        )
        size += added + unit.size
    if current:
        pages.append(current)
    return pages
