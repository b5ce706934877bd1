"""The Notion flow against the sandbox: a full backfill holds every page's block text once, verified; an edit in the
watermark's own minute (Notion rounds times down to the minute) is picked up and its old text leaves the store."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from core.settings import load_settings
from core.state import LocalStateBackend
from flows.notion import notion_backfill
from ingest.factory import build_store
from sandbox.server import RunningSandbox
from tests.flows.flow_helpers import DIMENSIONS, exported, pinecone_ids, simulator_env


@pytest.fixture
def notion_env(backfill_env: dict[str, str], fresh_sandbox: RunningSandbox) -> Iterator[dict[str, str]]:
    env = simulator_env(fresh_sandbox)
    with exported(env):
        yield {**backfill_env, **env}


def _stored(sb: RunningSandbox) -> dict[str, str]:
    """Document id → its stored text (chunks in order); asserts every document is stored once, chunks 0…n-1."""
    ids = pinecone_ids(sb, "notion:")
    assert len(ids) == len(set(ids))
    meta = build_store(load_settings(), DIMENSIONS).fetch_metadata(ids)
    chunks: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for vector_id, m in meta.items():
        chunks[vector_id.rsplit("#", 1)[0]].append((int(m["chunk_index"]), str(m["text"])))  # type: ignore[call-overload]
    out = {}
    for doc_id, parts in chunks.items():
        parts.sort()
        assert [i for i, _ in parts] == list(range(len(parts))), doc_id
        out[doc_id] = "\n".join(text for _, text in parts)
    return out


def _api(sb: RunningSandbox) -> httpx.Client:
    headers = {"Authorization": f"Bearer {sb.env['NOTION_TOKEN']}", "Notion-Version": "2022-06-28"}
    return httpx.Client(base_url=f"{sb.env['NOTION_API_URL']}/v1", headers=headers, timeout=10)


def _live_pages(client: httpx.Client) -> list[str]:
    ids, cursor = [], None
    while True:
        body = {"filter": {"property": "object", "value": "page"}, **({"start_cursor": cursor} if cursor else {})}
        page = client.post("/search", json=body).json()
        ids += [r["id"] for r in page["results"]]
        if not page["has_more"]:
            return ids
        cursor = page["next_cursor"]


def _block_texts(client: httpx.Client, block_id: str) -> list[str]:
    texts: list[str] = []
    cursor = None
    while True:
        page = client.get(f"/blocks/{block_id}/children", params={"start_cursor": cursor} if cursor else {}).json()
        for block in page["results"]:
            payload = block[block["type"]]
            for rich in [payload.get("rich_text") or [], *(payload.get("cells") or [])]:
                text = "".join(item["plain_text"] for item in rich)
                texts.append(text) if text else None
            if block["has_children"] and block["type"] not in ("child_page", "child_database"):
                texts += _block_texts(client, block["id"])
        if not page["has_more"]:
            return texts
        cursor = page["next_cursor"]


def _normal(text: str) -> str:
    return " ".join(text.split())


def test_full_notion_backfill_stores_every_block_text_once_verified(
    notion_env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    summary = notion_backfill(full=True)
    assert summary["status"] == "verified" and summary["failures"] == 0
    stored = _stored(fresh_sandbox)
    with _api(fresh_sandbox) as client:
        live = _live_pages(client)
        assert set(stored) == {f"notion:{page_id}" for page_id in live}
        source = {page_id: _block_texts(client, page_id) for page_id in live}
    docs = {doc_id: _normal(text) for doc_id, text in stored.items()}
    for page_id, texts in source.items():
        for text in texts:
            assert _normal(text) in docs[f"notion:{page_id}"], (page_id, text)
            if len(text) > 60:  # a sentence: in as many documents as pages hold it (the generator repeats a few)
                holders = {p for p, ts in source.items() if any(_normal(text) in _normal(t) for t in ts)}
                assert {d for d, t in docs.items() if _normal(text) in t} == {f"notion:{p}" for p in holders}, text


def test_an_edit_in_the_watermarks_minute_is_picked_up_and_the_old_text_is_gone(
    notion_env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    """Acceptance 3: Notion shows 12:00:10 and 12:00:40 both as 12:00. The full run's watermark is 12:00 (the first
    edit); the second edit, later in that same minute, carries the very same time and must still be read and
    replace the page's text in the store (ingest writes an equal updated_at when the content differs)."""
    fresh_sandbox.control("clock", {"advance_seconds": 10})
    first = fresh_sandbox.control("notion/edit_page", {"text": "First edit at 12:00:10."})
    assert notion_backfill(full=True)["status"] == "verified"
    backend = LocalStateBackend(load_settings().backfill_home)
    minute = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert backend.load("notion").watermark == minute

    fresh_sandbox.control("clock", {"advance_seconds": 30})
    second = fresh_sandbox.control(
        "notion/edit_page", {"page_id": first["id"], "replace_text": "Replaced at 12:00:40."}
    )
    assert second["last_edited_time"] == first["last_edited_time"] == "2026-11-01T12:00:00.000Z"
    old = _normal(second["old_text"])
    assert old in _normal(_stored(fresh_sandbox)[f"notion:{first['id']}"])

    run = notion_backfill()
    assert run["status"] == "verified" and run["embedded"] >= 1
    stored = _stored(fresh_sandbox)
    page = _normal(stored[f"notion:{first['id']}"])
    assert "Replaced at 12:00:40." in page and "First edit at 12:00:10." in page
    assert all(old not in _normal(text) for text in stored.values()), "the old text is still findable"
    assert backend.load("notion").watermark == minute


def test_search_filters_by_workspace_and_parent(notion_env: dict[str, str], fresh_sandbox: RunningSandbox) -> None:
    """Permissions and place: every chunk carries ``notion:workspace:…`` as its acl and ``workspace``/``parent_*`` in
    metadata; ``backfill search --where`` (``search_index(where=…)``) keeps only what holds those values."""
    from backfill.searching import search_index

    assert notion_backfill(full=True)["status"] == "verified"
    with _api(fresh_sandbox) as client:
        rows = {
            f"notion:{p['id']}"
            for p in client.post("/search", json={"page_size": 100}).json()["results"]
            if p["object"] == "page" and p["parent"]["type"] == "database_id"
        }
    hits = search_index("engineering tasks", source="notion", top_k=5, where={"parent_type": "database_id"})
    assert hits and {h["doc_id"] for h in hits} <= rows
    member = ["notion:workspace:Backfill Sandbox"]
    seen = search_index("engineering tasks", top_k=5, grants=member, where={"workspace": "Backfill Sandbox"})
    assert len(seen) == 5 and all(h["acl"] == member for h in seen)
    assert search_index("engineering tasks", top_k=5, grants=["notion:workspace:Elsewhere"]) == []
