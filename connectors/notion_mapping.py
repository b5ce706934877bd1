"""Pure Notion mappers: blocks → readable text, page properties → lines, a page (+ its blocks) → Document.

No I/O here (connectors/notion.py fetches). Text comes from each rich-text item's ``plain_text`` (never
``text.content``: mentions and equations have none). Headings keep their ``#``, list items ``- `` / ``1.``, to-dos
``[ ]`` / ``[x]``, table rows ``a | b | c``; nested blocks are indented two spaces a level. ``child_page`` and
``child_database`` blocks are one line naming them: those pages are documents of their own. A block type this module
does not know (``unsupported``, ``ai_block``, a type newer than the pinned version) is skipped and counted in the
document's ``skipped_blocks`` metadata, with its type in ``skipped_block_types``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.base import parse_timestamp
from ingest.document import Document, MetadataValue

__all__ = [
    "Block",
    "RenderStats",
    "page_acl",
    "page_failure_id",
    "page_title",
    "page_to_document",
    "plain_text",
    "property_lines",
    "render_blocks",
]

# Blocks whose payload is ``{rich_text: [...]}`` rendered as "<prefix><text>".
_PREFIX = {
    "paragraph": "",
    "heading_1": "# ",
    "heading_2": "## ",
    "heading_3": "### ",
    "bulleted_list_item": "- ",
    "quote": "> ",
    "toggle": "",
    "template": "",
}
# Known blocks that hold no text of their own (their children, if any, are rendered).
_NO_TEXT = frozenset({"divider", "breadcrumb", "table_of_contents", "column_list", "column", "synced_block", "table"})
# Media-like blocks: a caption and the file's or link's URL.
_MEDIA = frozenset({"image", "video", "file", "pdf", "audio", "bookmark", "embed", "link_preview"})


@dataclass
class Block:
    """A block as fetched, with its children (already fetched, when it has any and the depth cap allowed)."""

    raw: Mapping[str, Any]
    children: list[Block] = field(default_factory=list)
    unread_children: bool = False  # has_children, but below the depth cap: not fetched


@dataclass
class RenderStats:
    """What rendering left out, for the document's metadata."""

    skipped: int = 0
    skipped_types: set[str] = field(default_factory=set)
    unread_deep: int = 0  # blocks whose children sit below the depth cap and were not fetched
    child_pages: int = 0


def plain_text(rich: Any) -> str:
    """The text of a rich-text array: every item's ``plain_text`` joined (``text.content`` as a fallback)."""
    if not isinstance(rich, list):
        return ""
    parts = []
    for item in rich:
        if not isinstance(item, Mapping):
            continue
        text = item.get("plain_text")
        if text is None:
            text = (item.get("text") or {}).get("content", "")
        parts.append(str(text))
    return "".join(parts)


def _block_line(raw: Mapping[str, Any], number: int, stats: RenderStats) -> str | None:
    """One block's own text (None: nothing to show). Raises on a payload it cannot read (the page fails)."""
    kind = str(raw["type"])
    payload = raw.get(kind) or {}
    if kind in _PREFIX:
        return _PREFIX[kind] + plain_text(payload.get("rich_text"))
    if kind == "numbered_list_item":
        return f"{number}. {plain_text(payload.get('rich_text'))}"
    if kind == "to_do":
        return f"[{'x' if payload.get('checked') else ' '}] {plain_text(payload.get('rich_text'))}"
    if kind == "callout":
        icon = payload.get("icon") or {}
        emoji = f"{icon['emoji']} " if isinstance(icon, Mapping) and icon.get("emoji") else ""
        return f"{emoji}{plain_text(payload.get('rich_text'))}"
    if kind == "code":
        language = str(payload.get("language") or "")
        caption = plain_text(payload.get("caption"))
        body = f"```{language}\n{plain_text(payload.get('rich_text'))}\n```"
        return f"{body}\n{caption}" if caption else body
    if kind == "table_row":
        return " | ".join(plain_text(cell) for cell in payload.get("cells") or [])
    if kind == "equation":
        return str(payload.get("expression") or "")
    if kind == "child_page":
        stats.child_pages += 1
        return f"Child page: {payload.get('title', '')}"
    if kind == "child_database":
        return f"Child database: {payload.get('title', '')}"
    if kind == "link_to_page":
        target = payload.get(str(payload.get("type") or "page_id"), "")
        return f"Link to page: {target}"
    if kind in _MEDIA:
        source = payload.get(str(payload.get("type") or ""), {}) if "type" in payload else {}
        url = payload.get("url") or (source.get("url") if isinstance(source, Mapping) else "") or ""
        caption = plain_text(payload.get("caption"))
        shown = " ".join(part for part in (caption, str(url)) if part)
        return f"[{kind}] {shown}".rstrip() if shown else None
    if kind in _NO_TEXT:
        return "---" if kind == "divider" else None
    stats.skipped += 1
    stats.skipped_types.add(kind)
    return None


def render_blocks(blocks: Sequence[Block], stats: RenderStats, depth: int = 0) -> list[str]:
    """Readable lines for ``blocks`` and their children, children indented two spaces a level.

    A block whose children were not fetched (below the depth cap) is followed by a marker line, and counted.
    """
    lines: list[str] = []
    number = 0
    indent = "  " * depth
    for block in blocks:
        kind = str(block.raw["type"])
        number = number + 1 if kind == "numbered_list_item" else 0
        line = _block_line(block.raw, number, stats)
        if line:
            lines.extend(indent + part for part in line.split("\n"))
        if kind in ("child_page", "child_database"):
            continue  # their content is their own documents', never inlined
        lines.extend(render_blocks(block.children, stats, depth + 1))
        if block.unread_children:
            stats.unread_deep += 1
            lines.append(f"{indent}  [nested content below the depth limit was not read]")
    return lines


def page_title(page: Mapping[str, Any]) -> str:
    """The text of the page's property whose type is ``title`` (its name varies: "title", "Name", …)."""
    for prop in (page.get("properties") or {}).values():
        if isinstance(prop, Mapping) and prop.get("type") == "title":
            return plain_text(prop.get("title")).strip()
    return ""


def _property_value(prop: Mapping[str, Any]) -> str:
    kind = str(prop.get("type"))
    value = prop.get(kind)
    if value is None:
        return ""
    if kind in ("rich_text", "title"):
        return plain_text(value)
    if kind in ("select", "status"):
        return str(value.get("name", "")) if isinstance(value, Mapping) else ""
    if kind == "multi_select":
        return ", ".join(str(v.get("name", "")) for v in value if isinstance(v, Mapping))
    if kind == "date":
        start, end = value.get("start") or "", value.get("end")
        return f"{start} → {end}" if end else str(start)
    if kind in ("people", "relation"):
        return ", ".join(str(v.get("name") or v.get("id", "")) for v in value if isinstance(v, Mapping))
    if kind == "checkbox":
        return "yes" if value else "no"
    if kind == "formula" and isinstance(value, Mapping):
        inner = value.get(str(value.get("type")))
        return "" if inner is None else str(inner)
    if kind in ("created_by", "last_edited_by") and isinstance(value, Mapping):
        return str(value.get("name") or value.get("id", ""))
    if kind == "files":
        return ", ".join(str(v.get("name", "")) for v in value if isinstance(v, Mapping))
    if isinstance(value, str | int | float):
        return str(value)  # number, url, email, phone_number, created_time, last_edited_time
    return ""


def property_lines(page: Mapping[str, Any]) -> list[str]:
    """``Name: value`` for every non-title property with a value (database rows), in the API's order."""
    lines = []
    for name, prop in (page.get("properties") or {}).items():
        if not isinstance(prop, Mapping) or prop.get("type") == "title":
            continue
        shown = _property_value(prop).strip()
        if shown:
            lines.append(f"{name}: {shown}")
    return lines


def page_acl(workspace: str) -> list[str]:
    """Who may read a page: members of its workspace (``notion:workspace:<workspace>``).

    The API does not tell an integration who else can see a page, so the workspace is the finest scope Backfill
    can vouch for; teamspace- or guest-level restrictions need a grant design of their own (docs/SOURCES.md).
    """
    return [f"notion:workspace:{workspace}"]


def page_failure_id(raw: Any) -> str:
    ident = raw.get("id") if isinstance(raw, Mapping) else None
    return f"notion:{ident}" if ident else "notion:unidentified"


def _parent(page: Mapping[str, Any]) -> tuple[str, str]:
    parent = page.get("parent") or {}
    kind = str(parent.get("type") or "unknown")
    target = parent.get(kind)
    return kind, str(target) if isinstance(target, str) else ""


def page_to_document(page: Mapping[str, Any], blocks: Sequence[Block], workspace: str) -> Document:
    """Pure mapper: a page object and its fetched block tree → one Document ``notion:<page id>``."""
    stats = RenderStats()
    body = render_blocks(blocks, stats)
    title = page_title(page)
    props = property_lines(page)
    parent_type, parent_id = _parent(page)
    text = "\n".join([title or "Untitled", *props, *([""] if props else []), *body]).strip()
    metadata: dict[str, MetadataValue] = {
        "workspace": workspace,
        "parent_type": parent_type,
        "parent_id": parent_id,
        "blocks": _count(blocks),
        "skipped_blocks": stats.skipped,
        "unread_deep_blocks": stats.unread_deep,
        "child_pages": stats.child_pages,
    }
    if stats.skipped_types:
        metadata["skipped_block_types"] = sorted(stats.skipped_types)
    author = (page.get("created_by") or {}).get("id")
    if author:
        metadata["created_by"] = str(author)
    return Document(
        id=f"notion:{page['id']}",
        source="notion",
        title=title or "Untitled",
        text=text,
        url=str(page.get("url") or ""),
        created_at=parse_timestamp(str(page["created_time"])),
        updated_at=parse_timestamp(str(page["last_edited_time"])),
        metadata=metadata,
        acl=page_acl(workspace),
    )


def _count(blocks: Sequence[Block]) -> int:
    return sum(1 + _count(block.children) for block in blocks)
