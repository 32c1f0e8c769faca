"""YAML with line numbers: the one reader behind `path:line: message` in content checks.

The guide library (`bot/guides/compile.py`) and the directory (`bot/directory/model.py`) both
read YAML through `parse`: every mapping comes back as a `LineDict` and every sequence as a
`LineList`, plain `dict` and `list` subclasses that also know their own line (`line`) and the
line of each key or item (`lines`), all 1-based. Keys met twice are reported (the later value
wins, as in plain YAML); each caller words its own errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

# libyaml's parser where it is installed (much faster); the same documents either way.
FAST_BASE: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Mark:
    """Line numbers (1-based) of a mapping's keys or a sequence's items."""

    line: int
    lines: dict[Any, int]


class LineDict(dict[Any, Any], Mark):
    pass


class LineList(list[Any], Mark):
    pass


def _construct_map(loader: Any, node: yaml.MappingNode) -> Iterator[LineDict]:
    data = LineDict()
    data.line = node.start_mark.line + 1
    data.lines = {}
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in data.lines:
            loader.duplicates.append((line, f"duplicate key {key!r}"))
        data[key] = loader.construct_object(value_node, deep=True)
        data.lines[key] = line


def _construct_seq(loader: Any, node: yaml.SequenceNode) -> Iterator[LineList]:
    data = LineList()
    data.line = node.start_mark.line + 1
    data.lines = {}
    yield data
    for i, item in enumerate(node.value):
        data.append(loader.construct_object(item, deep=True))
        data.lines[i] = item.start_mark.line + 1


_LOADERS: dict[type[Any], type[Any]] = {}


def loader_class(base: type[Any]) -> type[Any]:
    """`base` (a PyYAML safe loader) building LineDicts and LineLists."""
    loader = _LOADERS.get(base)
    if loader is None:
        loader = _LOADERS[base] = type("LineLoader", (base,), {})
        loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
        loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)
    return loader


def parse(text: str, base: type[Any] = yaml.SafeLoader) -> tuple[Any, list[tuple[int, str]]]:
    """The document (None when empty) and the duplicate keys met, as (line, message).

    Raises what PyYAML raises (yaml.YAMLError, ValueError for a date like 2024-13-45)."""
    loader = loader_class(base)(text)
    loader.duplicates = []
    try:
        return loader.get_single_data(), loader.duplicates
    finally:
        loader.dispose()


def line_of(container: object, key: Any, default: int = 1) -> int:
    if isinstance(container, Mark):
        return container.lines.get(key, container.line)
    return default


def start_line(value: object, default: int) -> int:
    return value.line if isinstance(value, Mark) else default
