"""One YAML line-number reader for the guide library and the directory (issue 9, item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot import yaml_lines
from bot.guides.compile import ParsedYaml, read_yaml

BOT = Path(__file__).resolve().parents[1] / "bot"


def test_one_yaml_line_reader_for_guides_and_directory() -> None:
    """Only bot/yaml_lines.py builds YAML with line numbers; guides and directory use it."""
    builders = sorted(
        str(path.relative_to(BOT))
        for path in BOT.rglob("*.py")
        if "add_constructor" in (text := path.read_text(encoding="utf-8")) or "start_mark" in text
    )
    assert builders == ["yaml_lines.py"]
    for user in ("guides/compile.py", "directory/model.py"):
        assert "yaml_lines" in (BOT / user).read_text(encoding="utf-8"), user


@pytest.mark.parametrize("base", [yaml.SafeLoader, yaml_lines.FAST_BASE])
def test_lines_of_keys_items_and_duplicate_keys(base: type) -> None:
    data, duplicates = yaml_lines.parse("a: 1\nb:\n  - x\n  - {c: 3}\na: 2\n", base)
    assert data == {"a": 2, "b": ["x", {"c": 3}]}
    assert isinstance(data, yaml_lines.LineDict) and data.line == 1
    assert data.lines == {"a": 5, "b": 2}
    assert data["b"].lines == {0: 3, 1: 4}
    assert yaml_lines.line_of(data["b"][1], "c") == 4
    assert duplicates == [(5, "duplicate key 'a'")]


def test_guide_front_matter_lines_count_from_the_first_line() -> None:
    """Front matter starts on line 2 of a guide file (after ---): its keys' lines follow."""
    parsed = read_yaml("title: A\nsummary: B\n", 2)
    assert isinstance(parsed, ParsedYaml)
    assert parsed.lines == {"title": 2, "summary": 3}
    assert read_yaml("title: [A\n", 2) == (
        2,
        "invalid YAML: while parsing a flow sequence: did not find expected ',' or ']'",
    )
