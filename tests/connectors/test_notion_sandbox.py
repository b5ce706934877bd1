"""The Notion connector against the sandbox over real HTTP, and its pure block mapper.

The expectations are read from the sandbox's API directly (raw httpx, not the connector): every live page and
every block's text, so a connector that skips a page or a block type fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.base import FetchFailure, Partition, RunNote, Window
from connectors.notion import MAX_BLOCK_DEPTH, NotionConfig, NotionConnector
from connectors.notion_mapping import Block, RenderStats, page_to_document, render_blocks
from core.planning import FULL_HISTORY_START
from core.settings import Settings
from ingest.document import Document
from sandbox.server import RunningSandbox
from tests.corpus.sources import (
    NOTION,
    NOTION_START,
    notion_block,
    notion_children,
    notion_id,
    notion_page,
    notion_search,
)

END = datetime(2026, 11, 2, tzinfo=UTC)  # the sandbox clock starts at 2026-11-01 12:00
FULL = Window(start=FULL_HISTORY_START, end=END)


@pytest.fixture
def notion(fresh_sandbox: RunningSandbox) -> Iterator[NotionConnector]:
    env = {k.lower(): v for k, v in fresh_sandbox.env.items() if k.startswith("NOTION_")}
    with NotionConnector(NotionConfig.from_settings(Settings(**env), rate_per_s=None)) as connector:
        yield connector


@pytest.fixture
def api(fresh_sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {fresh_sandbox.env['NOTION_TOKEN']}", "Notion-Version": "2022-06-28"}
    with httpx.Client(base_url=f"{fresh_sandbox.env['NOTION_API_URL']}/v1", headers=headers, timeout=10) as client:
        yield client


def _read(connector: NotionConnector, window: Window = FULL) -> tuple[list[Document], list[Any]]:
    docs, other = [], []
    for partition in connector.partitions(window):
        for item in connector.fetch(partition):
            (docs if isinstance(item, Document) else other).append(item)
    return docs, other


def _listing(client: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None) -> list[dict]:
    out, cursor = [], None
    while True:
        if method == "POST":
            page = client.post(path, json={**(body or {}), **({"start_cursor": cursor} if cursor else {})}).json()
        else:
            page = client.get(path, params={"start_cursor": cursor} if cursor else {}).json()
        out += page["results"]
        if not page["has_more"]:
            return out
        cursor = page["next_cursor"]


def _texts(client: httpx.Client, block_id: str) -> list[str]:
    """Every non-empty rich text under ``block_id`` (table cells too), child pages excluded."""
    texts = []
    for block in _listing(client, "GET", f"/blocks/{block_id}/children"):
        payload = block[block["type"]]
        for rich in [payload.get("rich_text") or [], *(payload.get("cells") or [])]:
            text = "".join(item["plain_text"] for item in rich)
            if text:
                texts.append(text)
        if block["has_children"] and block["type"] not in ("child_page", "child_database"):
            texts += _texts(client, block["id"])
    return texts


def test_full_read_holds_every_live_page_once_with_every_block_text(notion: NotionConnector, api: httpx.Client) -> None:
    live = _listing(api, "POST", "/search", {"filter": {"property": "object", "value": "page"}})
    docs, other = _read(notion)
    by_id = {d.id: d for d in docs}
    assert len(docs) == len(by_id), "a page was yielded twice"
    assert set(by_id) == {f"notion:{p['id']}" for p in live}
    assert [o for o in other if not isinstance(o, RunNote)] == []
    for page in live:
        doc = by_id[f"notion:{page['id']}"]
        for text in _texts(api, page["id"]):
            assert text in doc.text, (doc.id, text)
        assert doc.updated_at == datetime.fromisoformat(page["last_edited_time"])
        assert doc.acl == ["notion:workspace:Backfill Sandbox"]
        assert doc.metadata["parent_type"] == page["parent"]["type"]
    sample = next(d for d in docs if d.metadata["parent_type"] == "page_id")
    assert "\n# " in "\n" + sample.text and "| Status" in sample.text.replace("Owner | Area | Status", "| Status")
    assert "```" in sample.text and ("[ ] " in sample.text or "[x] " in sample.text)
    rows = [d for d in docs if d.metadata["parent_type"] == "database_id"]
    assert rows and all("Status: " in d.text for d in rows)


def test_child_pages_are_their_own_documents_not_inlined(notion: NotionConnector, api: httpx.Client) -> None:
    docs, _ = _read(notion)
    by_id = {d.id: d for d in docs}
    child = next(d for d in docs if d.metadata["parent_type"] == "page_id")
    parent = by_id[f"notion:{child.metadata['parent_id']}"]
    assert f"Child page: {child.title}" in parent.text
    own = _texts(api, child.id.removeprefix("notion:"))
    assert [t for t in own if t not in parent.text and len(t) > 30], "the child's text was inlined in its parent"


def test_trashed_pages_are_neither_read_nor_listed(notion: NotionConnector, fresh_sandbox: RunningSandbox) -> None:
    trashed = fresh_sandbox.control("notion/trash_page", {})
    docs, _ = _read(notion)
    listed = set(notion.list_ids("workspace"))
    assert f"notion:{trashed['id']}" not in {d.id for d in docs} | listed
    assert {d.id for d in docs} == listed


def test_minute_rounding_edit_in_the_start_minute_is_read(
    notion: NotionConnector, fresh_sandbox: RunningSandbox
) -> None:
    """Notion shows 12:00:37 as 12:00: a window starting at 12:00:20 still reads it (its start is floored, >=)."""
    fresh_sandbox.control("clock", {"advance_seconds": 37})
    edited = fresh_sandbox.control("notion/edit_page", {"text": "An edit at 12:00:37."})
    start = datetime(2026, 11, 1, 12, 0, 20, tzinfo=UTC)
    docs, _ = _read(notion, Window(start=start, end=END))
    assert [d.id for d in docs] == [f"notion:{edited['id']}"]
    assert "An edit at 12:00:37." in docs[0].text
    later, _ = _read(notion, Window(start=start + timedelta(minutes=1), end=END))
    assert later == []


def test_a_full_read_walks_the_tree_for_pages_search_misses(
    notion: NotionConnector, fresh_sandbox: RunningSandbox
) -> None:
    hidden = fresh_sandbox.control("notion/hide_from_search", {})  # a child page (its parent is a page)
    docs, _ = _read(notion)
    assert f"notion:{hidden['id']}" in {d.id for d in docs}
    assert f"notion:{hidden['id']}" in set(notion.list_ids("workspace"))


def test_refetch_reads_failed_pages_by_id_and_drops_gone_ones(notion: NotionConnector) -> None:
    docs, _ = _read(notion)
    asked = [docs[0].id, "notion:00000000-0000-4000-a000-000000000000"]
    parts = notion.refetch_partitions(asked, None, Window(start=END - timedelta(days=1), end=END))
    assert len(parts) == 1 and parts[0].scope.startswith("ids:")
    again = [item for p in parts for item in notion.fetch(p)]
    assert [d.id for d in again if isinstance(d, Document)] == [docs[0].id]
    assert not [f for f in again if isinstance(f, FetchFailure)]


# -- the pure mapper ---------------------------------------------------------------------------------------------


def _rich(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "plain_text": text, "text": {"content": text}, "annotations": {}}]


def _b(kind: str, payload: dict[str, Any], *children: Block, unread: bool = False) -> Block:
    return Block({"type": kind, "id": kind, kind: payload}, list(children), unread)


def test_every_block_type_renders_readably() -> None:
    mention = {"type": "mention", "plain_text": "@Ada", "mention": {"type": "user"}, "annotations": {}}
    blocks = [
        _b("heading_1", {"rich_text": _rich("Top")}),
        _b("heading_2", {"rich_text": _rich("Second")}),
        _b("heading_3", {"rich_text": _rich("Third")}),
        _b("paragraph", {"rich_text": [*_rich("Hello "), mention]}),
        _b("bulleted_list_item", {"rich_text": _rich("dot")}, _b("bulleted_list_item", {"rich_text": _rich("inner")})),
        _b("numbered_list_item", {"rich_text": _rich("one")}),
        _b("numbered_list_item", {"rich_text": _rich("two")}),
        _b("to_do", {"rich_text": _rich("open"), "checked": False}),
        _b("to_do", {"rich_text": _rich("done"), "checked": True}),
        _b("quote", {"rich_text": _rich("said")}),
        _b("callout", {"rich_text": _rich("note"), "icon": {"type": "emoji", "emoji": "💡"}}),
        _b("toggle", {"rich_text": _rich("More")}, _b("paragraph", {"rich_text": _rich("hidden")})),
        _b("code", {"rich_text": _rich("print(1)"), "language": "python", "caption": []}),
        _b(
            "table",
            {"table_width": 3},
            _b("table_row", {"cells": [_rich("a"), _rich("b"), _rich("c")]}),
            _b("table_row", {"cells": [_rich("1"), [], _rich("3")]}),
        ),
        _b("equation", {"expression": "e=mc^2"}),
        _b("divider", {}),
        _b("child_page", {"title": "Sub page"}),
        _b("child_database", {"title": "Tasks"}),
        _b("ai_block", {}),
        _b("unsupported", {}),
        _b("quote", {"rich_text": _rich("deep")}, unread=True),
    ]
    stats = RenderStats()
    text = "\n".join(render_blocks(blocks, stats))
    for line in (
        "# Top", "## Second", "### Third", "Hello @Ada", "- dot", "  - inner", "1. one", "2. two", "[ ] open",
        "[x] done", "> said", "💡 note", "More", "  hidden", "```python\nprint(1)\n```", "  a | b | c", "  1 |  | 3",
        "e=mc^2", "---", "Child page: Sub page", "Child database: Tasks", "> deep",
        "  [nested content below the depth limit was not read]",
    ):  # fmt: skip
        assert line in text, line
    assert (stats.skipped, stats.skipped_types, stats.unread_deep, stats.child_pages) == (
        2,
        {"ai_block", "unsupported"},
        1,
        1,
    )


def test_page_to_document_title_properties_and_metadata() -> None:
    page = {
        "object": "page",
        "id": "11111111-2222-4333-a444-555555555555",
        "created_time": "2026-01-01T10:00:00.000Z",
        "last_edited_time": "2026-01-02T10:07:00.000Z",
        "parent": {"type": "database_id", "database_id": "db-1"},
        "url": "https://www.notion.so/x",
        "properties": {
            "Status": {"type": "select", "select": {"name": "Done"}},
            "Name": {"type": "title", "title": _rich("Row title")},
            "Tags": {"type": "multi_select", "multi_select": [{"name": "a"}, {"name": "b"}]},
            "Due": {"type": "date", "date": {"start": "2026-02-01", "end": None}},
            "Notes": {"type": "rich_text", "rich_text": _rich("free text")},
        },
    }
    doc = page_to_document(page, [_b("unsupported", {})], "Acme")
    assert doc.id == "notion:11111111-2222-4333-a444-555555555555" and doc.title == "Row title"
    for line in ("Status: Done", "Tags: a, b", "Due: 2026-02-01", "Notes: free text"):
        assert line in doc.text
    assert doc.updated_at == datetime(2026, 1, 2, 10, 7, tzinfo=UTC)
    assert doc.metadata["parent_type"] == "database_id" and doc.metadata["parent_id"] == "db-1"
    assert doc.metadata["skipped_blocks"] == 1 and doc.acl == ["notion:workspace:Acme"]


def test_partition_start_is_floored_to_the_minute(notion: NotionConnector) -> None:
    window = Window(start=datetime(2026, 10, 1, 8, 30, 45, tzinfo=UTC), end=END)
    assert notion.partitions(window) == [
        Partition(source="notion", scope="workspace", start=datetime(2026, 10, 1, 8, 30, tzinfo=UTC), end=END)
    ]


def test_deep_pages_and_skipped_block_types_are_named_in_run_notes(
    notion: NotionConnector, fresh_sandbox: RunningSandbox
) -> None:
    """Content below the depth cap and block types without text are never silently lost: each document counts
    them and the partition ends with a RunNote naming the pages and types (the run report shows it)."""
    chain, parent = [], notion_id(1)
    for level in range(1, MAX_BLOCK_DEPTH + 1):  # every level has children; the last level's are not read
        block = notion_block(level, "toggle", f"level {level}", children=True)
        chain.append(notion_children(parent, [block]))
        parent = block["id"]
    odd = notion_children(notion_id(2), [notion_block(90, text="kept"), notion_block(91, "ai_block", prompt="x")])
    for canned in [notion_search([notion_page(1), notion_page(2)]), *chain, odd]:
        fresh_sandbox.control("canned", canned.control_body("notion", notion.base_url, NOTION.pin))
    [partition] = notion.partitions(Window(start=NOTION_START, end=END))
    items = list(notion.fetch(partition))
    docs = {i.id: i for i in items if isinstance(i, Document)}
    notes = [i.text for i in items if isinstance(i, RunNote)]
    assert docs[f"notion:{notion_id(1)}"].metadata["unread_deep_blocks"] == 1
    assert f"level {MAX_BLOCK_DEPTH}" in docs[f"notion:{notion_id(1)}"].text
    assert docs[f"notion:{notion_id(2)}"].metadata["skipped_block_types"] == ["ai_block"]
    assert any(f"deeper than {MAX_BLOCK_DEPTH}" in n and notion_id(1) in n for n in notes), notes
    assert any("ai_block (1 page(s))" in n for n in notes), notes
