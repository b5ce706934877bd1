"""Atlassian Document Format → readable plain text (Jira descriptions, comment bodies, rich-text fields).

Traverses in document order. Inline nodes render without a newline; block nodes end with one. Lists become
one line per item (``- ``, ``1. ``, ``[x] ``), tables one line per row with `` | `` between cells. A node
type we do not know is rendered through its children, so new ADF node types
degrade to their text instead of vanishing. Nodes nested deeper than ``MAX_DEPTH`` (no editor makes them; an API
client can) are flattened to their text, one line per block, without recursion: a 500-level document must not
raise RecursionError and take its whole partition down.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["adf_to_text"]

Node = Mapping[str, Any]
MAX_DEPTH = 64  # rendering recurses ~5 frames a level: 64 levels stay far below Python's recursion limit
_state = threading.local()  # the current nesting depth of _render, per thread


def adf_to_text(document: Any) -> str:
    """Readable text of an ADF document; ``None`` → ``""``; a plain string (API v2) as is."""
    if document is None:
        return ""
    if isinstance(document, str):
        return document.strip()
    if not isinstance(document, Mapping):
        return ""
    text = _render(document)
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _render(node: Any) -> str:
    if not isinstance(node, Mapping):
        return ""
    depth = getattr(_state, "depth", 0)
    if depth >= MAX_DEPTH:
        return _flat_text(node)
    _state.depth = depth + 1
    try:
        return _HANDLERS.get(str(node.get("type", "")), _children)(node)
    finally:
        _state.depth = depth


def _flat_text(node: Node) -> str:
    """A subtree nested too deep to render: its leaves' text in document order, a line break after each block."""
    out: list[str] = []
    stack: list[Any] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):  # the line break of a block whose children are done
            out.append(item)
            continue
        if not isinstance(item, Mapping):
            continue
        content = item.get("content")
        if isinstance(content, list) and content:
            stack.append("\n")
            stack.extend(reversed(content))
        else:  # a leaf: its handler does not recurse
            out.append(_HANDLERS.get(str(item.get("type", "")), _children)(item))
    return "".join(out)


def _attrs(node: Node) -> Mapping[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, Mapping) else {}


def _children(node: Node) -> str:
    content = node.get("content")
    return "".join(_render(child) for child in content) if isinstance(content, list) else ""


def _block(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


# -- inline ----------------------------------------------------------------------------------------------


def _text(node: Node) -> str:
    text = str(node.get("text", ""))
    for mark in node.get("marks") or []:
        href = _attrs(mark).get("href") if isinstance(mark, Mapping) and mark.get("type") == "link" else None
        if href and href != text:
            text = f"{text} ({href})"
    return text


def _mention(node: Node) -> str:
    attrs = _attrs(node)
    return str(attrs.get("text") or (f"@{attrs['id']}" if attrs.get("id") else ""))


def _emoji(node: Node) -> str:
    attrs = _attrs(node)
    return str(attrs.get("text") or attrs.get("shortName") or "")


def _date(node: Node) -> str:
    raw = _attrs(node).get("timestamp")
    try:
        return datetime.fromtimestamp(int(raw) / 1000, tz=UTC).strftime("%Y-%m-%d")
    except (TypeError, ValueError, OverflowError):
        return str(raw or "")


def _card_url(node: Node) -> str:
    attrs = _attrs(node)
    data = attrs.get("data")
    return str(attrs.get("url") or (data.get("url") if isinstance(data, Mapping) else "") or "")


def _media(node: Node) -> str:
    # Media carries no text; the alt text is the most a reader can get.
    alt = _attrs(node).get("alt")
    return _block(str(alt)) if alt else _children(node)


# -- blocks ----------------------------------------------------------------------------------------------


def _paragraph(node: Node) -> str:
    return _children(node) + "\n"


def _heading(node: Node) -> str:
    return "\n" + _children(node) + "\n"


def _item_lines(prefix: str, body: str) -> str:
    """The first line of an item gets the marker; continuation lines are indented under it."""
    lines = body.strip("\n").split("\n") or [""]
    indent = " " * len(prefix)
    return "".join(f"{prefix if i == 0 else indent}{line}\n" for i, line in enumerate(lines))


def _list(marker: Callable[[int, Node], str]) -> Callable[[Node], str]:
    def render(node: Node) -> str:
        items = [c for c in node.get("content") or [] if isinstance(c, Mapping)]
        return "".join(_item_lines(marker(i, item), _render_item(item)) for i, item in enumerate(items))

    return render


def _render_item(item: Node) -> str:
    # listItem holds blocks; taskItem/decisionItem hold inline nodes directly.
    return _children(item)


def _ordered_marker(node_start: int) -> Callable[[int, Node], str]:
    return lambda i, _item: f"{node_start + i}. "


def _ordered_list(node: Node) -> str:
    start = _attrs(node).get("order", 1)
    start = start if isinstance(start, int) else 1
    return _list(_ordered_marker(start))(node)


def _task_marker(_i: int, item: Node) -> str:
    if item.get("type") == "taskList":  # nested task list: indent, no checkbox of its own
        return "  "
    return "[x] " if _attrs(item).get("state") == "DONE" else "[ ] "


def _expand(node: Node) -> str:
    title = _attrs(node).get("title")
    return (_block(str(title)) if title else "") + _block(_children(node))


def _code_block(node: Node) -> str:
    return _block(_children(node))


def _table(node: Node) -> str:
    rows = [r for r in node.get("content") or [] if isinstance(r, Mapping)]
    return "".join(_table_row(row) for row in rows)


def _table_row(row: Node) -> str:
    cells = [c for c in row.get("content") or [] if isinstance(c, Mapping)]
    texts = [" ".join(_children(cell).split()) for cell in cells]
    return " | ".join(texts) + "\n"


_HANDLERS: dict[str, Callable[[Node], str]] = {
    # inline
    "text": _text,
    "hardBreak": lambda _n: "\n",
    "mention": _mention,
    "emoji": _emoji,
    "date": _date,
    "status": lambda n: str(_attrs(n).get("text") or ""),
    "inlineCard": _card_url,
    "mediaInline": _media,
    # blocks
    "doc": _children,
    "paragraph": _paragraph,
    "heading": _heading,
    "bulletList": _list(lambda _i, _item: "- "),
    "orderedList": _ordered_list,
    "listItem": lambda n: _block(_children(n)),
    "taskList": _list(_task_marker),
    "taskItem": lambda n: _block(_children(n)),
    "decisionList": _list(lambda _i, _item: "- "),
    "decisionItem": lambda n: _block(_children(n)),
    "codeBlock": _code_block,
    "blockquote": lambda n: _block(_children(n)),
    "panel": lambda n: _block(_children(n)),
    "expand": _expand,
    "nestedExpand": _expand,
    "table": _table,
    "tableRow": _table_row,
    "tableHeader": lambda n: _block(_children(n)),
    "tableCell": lambda n: _block(_children(n)),
    "blockCard": lambda n: _block(_card_url(n)),
    "embedCard": lambda n: _block(_card_url(n)),
    "mediaSingle": _media,
    "mediaGroup": _media,
    "media": _media,
    "rule": lambda _n: "\n",
}
