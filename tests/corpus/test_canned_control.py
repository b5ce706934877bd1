"""The sandbox's canned responses (``POST /_control/canned``, sandbox/canned.py) that the corpus is built on."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from sandbox.server import RunningSandbox


@pytest.fixture
def sb(fresh_sandbox: RunningSandbox) -> Iterator[RunningSandbox]:
    yield fresh_sandbox
    fresh_sandbox.control("reset")


def _tempo(sb: RunningSandbox, path: str = "/4/worklogs", **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {sb.env['TEMPO_API_TOKEN']}"}
    return httpx.get(f"{sb.env['TEMPO_API_URL']}{path}", params=params, headers=headers, timeout=10)


def test_raw_bytes_are_served_times_then_the_api_answers_again(sb: RunningSandbox) -> None:
    raw = b'{"results": ["\xff\xfe"'  # invalid UTF-8 and cut off: only raw bytes can say this
    spec = {"api": "tempo", "path_contains": "/4/worklogs", "body_b64": base64.b64encode(raw).decode(), "times": 2}
    sb.control("canned", spec)
    for _ in range(2):
        response = _tempo(sb)
        assert response.status_code == 200 and response.content == raw
        assert response.headers["content-type"] == "application/json"
    assert "results" in _tempo(sb).json()  # the real simulator again
    (entry,) = sb.control("canned", method="GET")["pending"]
    assert (entry["remaining"], entry["served"]) == (0, 2)
    assert sb.control("counters")["faults"] == {"tempo canned": 2}


def test_entries_match_on_path_query_and_body_and_serve_in_order(sb: RunningSandbox) -> None:
    sb.control("canned", {"api": "tempo", "path_contains": "/4/worklogs", "query": {"offset": "5"}, "body": "five"})
    sb.control("canned", {"api": "tempo", "path_contains": "/4/worklogs", "body": "first", "status": 503})
    sb.control("canned", {"api": "tempo", "path_contains": "/4/worklogs", "body": "second"})
    assert _tempo(sb, offset="50").text == "first"  # "50" is not "5": parameters match exactly
    assert _tempo(sb, offset="5").text == "five"
    assert _tempo(sb).text == "second"
    token = sb.env["JIRA_API_TOKEN"]
    sb.control("canned", {"api": "jira", "path_contains": "/search/jql", "body_contains": "ENG-7", "body": "hit"})
    url = f"{sb.env['JIRA_URL']}/rest/api/3/search/jql"
    auth = (sb.env["JIRA_EMAIL"], token)
    missed = httpx.post(url, json={"jql": 'project = "ENG"', "fields": ["id"]}, auth=auth, timeout=10)
    assert missed.status_code == 200 and "issues" in missed.json()  # the body was replayed to the simulator
    assert httpx.post(url, json={"jql": "key = ENG-7"}, auth=auth, timeout=10).text == "hit"


def test_reset_drops_every_entry_and_bad_bodies_are_refused(sb: RunningSandbox) -> None:
    sb.control("canned", {"api": "tempo", "body": "never served", "times": 5})
    sb.control("reset")
    assert sb.control("canned", method="GET") == {"pending": []}
    assert "results" in _tempo(sb).json()
    for bad in ({"body": "x"}, {"api": "nope"}, {"api": "tempo", "times": 0}, {"api": "tempo", "body_b64": "!!"}):
        response = httpx.post(f"{sb.base_url}/_control/canned", json=bad, timeout=10)
        assert response.status_code == 400, bad
