"""Corpus size and determinism, through the APIs: scale 1 is the predecessor's workload; a seed fixes every byte."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from sandbox.adf_gen import NODE_TYPES
from sandbox.jira.corpus import issue_keys
from sandbox.server import RunningSandbox, start_sandbox


def _jira(sb: RunningSandbox) -> httpx.Client:
    return httpx.Client(base_url=sb.env["JIRA_URL"], auth=(sb.env["JIRA_EMAIL"], sb.env["JIRA_API_TOKEN"]), timeout=60)


def _projects(client: httpx.Client) -> list[dict[str, Any]]:
    values: list[dict[str, Any]] = []
    while True:
        page = client.get(
            "/rest/api/3/project/search",
            params=[("status", "live"), ("status", "archived"), ("maxResults", "100"), ("startAt", str(len(values)))],
        ).json()
        values += page["values"]
        if page["isLast"]:
            return values


def _issue_ids(client: httpx.Client, keys: list[str]) -> list[str]:
    jql = "project in (" + ", ".join(f'"{k}"' for k in keys) + ") ORDER BY updated ASC, key ASC"
    ids: list[str] = []
    token = None
    while True:
        body = client.post(
            "/rest/api/3/search/jql",
            json={"jql": jql, "maxResults": 5000, **({"nextPageToken": token} if token else {})},
        ).json()
        ids += [issue["id"] for issue in body["issues"]]
        token = body.get("nextPageToken")
        if token is None:
            return ids


def test_scale_1_serves_72_projects_and_7556_issues() -> None:
    with start_sandbox(seed=7, scale=1.0) as sb, _jira(sb) as client:
        projects = _projects(client)
        ids = _issue_ids(client, [p["key"] for p in projects])
    assert len(projects) == 72 and any(p.get("archived") for p in projects)
    assert len(ids) == len(set(ids)) == 7556


def _snapshot(sb: RunningSandbox) -> Iterator[bytes]:
    """Raw bytes of a sample of every API's responses."""
    with _jira(sb) as client:
        keys = [p["key"] for p in _projects(client)]
        jql = "project in (" + ", ".join(keys) + ") ORDER BY updated ASC, key ASC"
        page = client.get("/rest/api/3/search/jql", params={"jql": jql, "fields": "*all", "maxResults": 30})
        yield page.content
        yield client.get(
            "/rest/api/3/search/jql",
            params={"jql": jql, "maxResults": 30, "nextPageToken": page.json()["nextPageToken"]},
        ).content
        yield client.get("/rest/api/3/issue/10007/comment").content
        yield client.get("/rest/api/3/project/search").content
        yield client.get("/rest/api/3/myself").content
    tempo = {"Authorization": f"Bearer {sb.env['TEMPO_API_TOKEN']}"}
    yield httpx.get(sb.env["TEMPO_API_URL"] + "/4/worklogs", params={"limit": 200}, headers=tempo).content
    query = (
        "{ transcripts(limit: 50) { id title date participants sentences { text start_time } summary { overview } } }"
    )
    yield httpx.post(
        sb.env["FIREFLIES_API_URL"],
        json={"query": query},
        headers={"Authorization": f"Bearer {sb.env['FIREFLIES_API_KEY']}"},
    ).content


def test_same_seed_gives_identical_bytes_and_another_seed_does_not() -> None:
    with start_sandbox(seed=42, scale=0.02) as first:
        port = first.port
        before = list(_snapshot(first))
    # Same port, so even the self links are the same bytes.
    with start_sandbox(seed=42, scale=0.02, port=port) as second:
        again = list(_snapshot(second))
    with start_sandbox(seed=43, scale=0.02, port=port) as other:
        different = list(_snapshot(other))
    assert before == again
    assert all(json.loads(b) for b in before)
    assert before[0] != different[0] and before[-1] != different[-1]


def test_every_adf_node_type_appears_in_descriptions(sandbox: RunningSandbox) -> None:
    with _jira(sandbox) as client:
        issues = client.post(
            "/rest/api/3/issue/bulkfetch",
            json={"issueIdsOrKeys": [str(10000 + n) for n in range(40)], "fields": ["description"]},
        ).json()["issues"]
    seen: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        seen.add(node["type"])
        for child in node.get("content", []):
            walk(child)

    for issue in issues:
        if issue["fields"]["description"] is not None:
            walk(issue["fields"]["description"])
    assert set(NODE_TYPES) <= seen


def test_issue_keys_lists_the_corpus_keys(sandbox: RunningSandbox) -> None:
    keys = issue_keys(42, 0.01)
    assert len(keys) == len(set(keys)) == 76
    with _jira(sandbox) as client:
        found = client.post("/rest/api/3/issue/bulkfetch", json={"issueIdsOrKeys": keys[:100], "fields": ["key"]})
    assert sorted(i["key"] for i in found.json()["issues"]) == sorted(keys)
