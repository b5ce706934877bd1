"""Notion simulator over real HTTP: contract, quirks, rate limit, determinism, control.

The 2022-06-28 spec (the version the connector pins) leaves most responses empty (``responses: {}``), so
responses are checked against the schemas it does give (``/v1/users/me``, the error body of the 2025 file) and
against the object shapes Notion's API reference documents; request bodies are checked against the spec.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from sandbox.server import RunningSandbox, start_sandbox

SPECS = Path(__file__).parents[1] / "specs" / "notion"
VERSION = "2022-06-28"
_RICH = {"type": "array", "items": {"type": "object", "required": ["type", "plain_text", "annotations"]}}
_TS = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z$"}  # rounded down to the minute
PAGE = {
    "type": "object",
    "required": [
        "object",
        "id",
        "created_time",
        "last_edited_time",
        "parent",
        "archived",
        "in_trash",
        "properties",
        "url",
    ],
    "properties": {"object": {"const": "page"}, "created_time": _TS, "last_edited_time": _TS},
}
BLOCK = {
    "type": "object",
    "required": ["object", "id", "type", "has_children", "parent", "last_edited_time"],
    "properties": {"object": {"const": "block"}, "last_edited_time": _TS},
}
LIST = {
    "type": "object",
    "required": ["object", "results", "next_cursor", "has_more"],
    "properties": {
        "object": {"const": "list"},
        "next_cursor": {"type": ["string", "null"]},
        "has_more": {"type": "boolean"},
    },
}


def _spec(name: str) -> dict[str, Any]:
    return json.loads((SPECS / name).read_text())


def _client(sb: RunningSandbox, version: str | None = VERSION) -> httpx.Client:
    headers = {"Authorization": f"Bearer {sb.env['NOTION_TOKEN']}"}
    if version:
        headers["Notion-Version"] = version
    return httpx.Client(base_url=f"{sb.env['NOTION_API_URL']}/v1", headers=headers, timeout=10.0)


def _search(client: httpx.Client, **body: Any) -> dict[str, Any]:
    request = {"filter": {"property": "object", "value": "page"}, "page_size": 100, **body}
    Draft202012Validator(
        _spec("notion-openapi.2022-06-28.json")["paths"]["/v1/search"]["post"]["requestBody"]["content"][
            "application/json"
        ]["schema"]
    ).validate(request)
    return client.post("/search", json=request).json()


def test_responses_have_notion_shapes(sandbox) -> None:
    with _client(sandbox) as client:
        search = _search(client, page_size=20)
        page_id = search["results"][0]["id"]
        page = client.get(f"/pages/{page_id}").json()
        children = client.get(f"/blocks/{page_id}/children", params={"page_size": 100}).json()
        database = _search(client, filter={"property": "object", "value": "database"})["results"][0]
        rows = client.post(f"/databases/{database['id']}/query", json={"page_size": 5}).json()
        me = client.get("/users/me").json()
    for listing in (search, children, rows):
        Draft202012Validator(LIST).validate(listing)
    for item in [*search["results"], page, *rows["results"]]:
        Draft202012Validator(PAGE).validate(item)
    for block in children["results"]:
        Draft202012Validator(BLOCK).validate(block)
    me_schema = _spec("notion-openapi.2022-06-28.json")["paths"]["/v1/users/me"]["get"]["responses"]["200"]
    Draft202012Validator(me_schema["content"]["application/json"]["schema"]).validate(me)
    assert search["type"] == "page_or_database" and rows["results"][0]["parent"]["type"] == "database_id"


def test_blocks_nest_at_least_three_levels_one_level_per_call(sandbox) -> None:
    seen_types: set[str] = set()

    def depth(client: httpx.Client, block_id: str) -> int:
        results = client.get(f"/blocks/{block_id}/children").json()["results"]
        seen_types.update(b["type"] for b in results)
        nested = [depth(client, b["id"]) for b in results if b["has_children"] and b["type"] != "child_page"]
        return 1 + max(nested, default=0)

    with _client(sandbox) as client:
        page_id = _search(client, page_size=1)["results"][0]["id"]
        assert depth(client, page_id) >= 3
    assert {
        "paragraph",
        "heading_1",
        "bulleted_list_item",
        "to_do",
        "code",
        "toggle",
        "table",
        "table_row",
    } <= seen_types


def test_timestamps_are_rounded_down_to_the_minute(fresh_sandbox) -> None:
    fresh_sandbox.control("clock", {"advance_seconds": 97})  # 12:01:37
    edited = fresh_sandbox.control("notion/edit_page", {})
    with _client(fresh_sandbox) as client:
        page = client.get(f"/pages/{edited['id']}").json()
        newest = _search(client, page_size=1)["results"][0]
    assert page["last_edited_time"] == "2026-11-01T12:01:00.000Z" == edited["last_edited_time"]
    assert newest["id"] == edited["id"]


def test_notion_version_header_is_required(sandbox) -> None:
    with _client(sandbox, version=None) as client:
        response = client.post("/search", json={})
    assert response.status_code == 400
    body = response.json()
    error_schema = _spec("notion-openapi.2025-09-03.json")["paths"]["/v1/search"]["post"]["responses"]["400"]
    Draft202012Validator(error_schema["content"]["application/json"]["schema"]).validate(body)
    assert (body["object"], body["status"], body["code"]) == ("error", 400, "missing_version")


def test_errors_in_notion_style(sandbox) -> None:
    with _client(sandbox) as client:
        missing = client.get("/pages/00000000-0000-4000-a000-000000000000")
        too_big = client.post("/search", json={"page_size": 101})
    with _client(sandbox, version="2025-09-03") as client:
        old_filter = client.post("/search", json={"filter": {"property": "object", "value": "database"}})
    assert (missing.status_code, missing.json()["code"]) == (404, "object_not_found")
    assert (too_big.status_code, too_big.json()["code"]) == (400, "validation_error")
    assert (old_filter.status_code, old_filter.json()["code"]) == (400, "validation_error")


def test_search_paginates_and_trash_disappears(fresh_sandbox) -> None:
    with _client(fresh_sandbox) as client:
        before = _all_page_ids(client)
        trashed = fresh_sandbox.control("notion/trash_page", {})
        added = fresh_sandbox.control("notion/add_page", {"title": "Fresh page"})
        after = _all_page_ids(client)
        page = client.get(f"/pages/{trashed['id']}").json()
    assert trashed["id"] in before and trashed["id"] not in after and added["id"] in after
    assert page["in_trash"] is True and page["archived"] is True


def _all_page_ids(client: httpx.Client) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        body = _search(client, page_size=7, **({"start_cursor": cursor} if cursor else {}))
        ids += [r["id"] for r in body["results"]]
        if not body["has_more"]:
            assert body["next_cursor"] is None
            assert len(ids) == len(set(ids))
            return ids
        cursor = body["next_cursor"]


def test_rate_limit_answers_429_rate_limited() -> None:
    overrides = {"notion": {"quota": True, "requests_per_second": 0.01, "burst": 2}}
    with start_sandbox(seed=42, scale=0.01, overrides=overrides) as sb, _client(sb) as client:
        answers = [client.post("/search", json={"page_size": 1}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["code"] == "rate_limited" and answers[2].json()["object"] == "error"
    assert int(answers[2].headers["Retry-After"]) >= 1


def test_auth_failure_and_same_seed_bytes() -> None:
    bodies = []
    for _ in range(2):
        with start_sandbox(seed=11, scale=0.01) as sb, _client(sb) as client:
            search = client.post("/search", json={"page_size": 100})
            page_id = search.json()["results"][0]["id"]
            bodies.append([search.content, client.get(f"/blocks/{page_id}/children").content])
            sb.control("notion/auth", {"fail": True})
            refused = client.get("/users/me")
            assert (refused.status_code, refused.json()["code"]) == (401, "unauthorized")
    assert bodies[0] == bodies[1]


@pytest.mark.parametrize("version", ["2025-09-03"])
def test_new_version_queries_data_sources(sandbox, version) -> None:
    with _client(sandbox, version=version) as client:
        source = client.post("/search", json={"filter": {"property": "object", "value": "data_source"}}).json()
        source_id = source["results"][0]["id"]
        via_database = client.post(f"/databases/{source_id}/query", json={})
        via_source = client.post(f"/data_sources/{source_id}/query", json={"page_size": 3})
    assert source["type"] == "page_or_data_source"
    assert via_database.status_code == 400 and via_source.status_code == 200


def test_replace_text_and_hide_from_search_controls(fresh_sandbox) -> None:
    """``edit_page`` with ``replace_text`` swaps a paragraph's text in place; ``hide_from_search`` keeps a page out
    of search (search is not exhaustive) while it stays readable by id."""
    fresh_sandbox.control("clock", {"advance_seconds": 30})
    edited = fresh_sandbox.control("notion/edit_page", {"replace_text": "The new words."})
    hidden = fresh_sandbox.control("notion/hide_from_search", {"page_id": edited["id"]})
    with _client(fresh_sandbox) as client:
        block = client.get(f"/blocks/{edited['block_id']}").json()
        page = client.get(f"/pages/{edited['id']}").json()
        listed = _all_page_ids(client)
    assert edited["old_text"] and edited["old_text"] != "The new words."
    assert block["paragraph"]["rich_text"][0]["plain_text"] == "The new words."
    assert page["last_edited_time"] == edited["last_edited_time"] == "2026-11-01T12:00:00.000Z"
    assert hidden["hidden"] is True and edited["id"] not in listed
