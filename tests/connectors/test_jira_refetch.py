"""Failed Jira records are re-read safely: meaningful failure ids, bounded refetch partitions that never build an
empty or invalid JQL, deleted issues simply absent, and ``existing_ids`` telling which failures still exist."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.base import FetchFailure, Partition, Window
from connectors.jira import JiraConfig, JiraConnector, failure_id
from core.settings import Settings
from ingest.document import Document
from sandbox.server import RunningSandbox

WINDOW = Window(start=datetime(2026, 10, 1, tzinfo=UTC), end=datetime(2026, 11, 2, tzinfo=UTC))
MOCK_SETTINGS = Settings(
    jira_url="https://acme.atlassian.net", jira_email="me@acme.com", jira_api_token=SecretStr("tok-jira-123456")
)
JUNK = ["jira:?", "jira:", "jira:unidentified-0123456789ab", "slack:C1:1.2", "jira:10042 OR 1=1", "jira:-5"]


class RecordingTransport(httpx.HTTPTransport):
    """A real HTTP transport that remembers every request it sent (the client factory's transport seam)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)


def mock_jira(issues: list[dict[str, Any]]) -> JiraConnector:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"issues": issues, "isLast": True})

    return JiraConnector(
        JiraConfig.from_settings(MOCK_SETTINGS, rate_per_s=None), transport=httpx.MockTransport(handler)
    )


def scoped_ids(part: Partition) -> list[str]:
    return part.scope.removeprefix("retry:").split(",")


# -- failure ids -------------------------------------------------------------------------------------------


def test_failure_ids_stay_meaningful_without_an_id() -> None:
    assert failure_id({"id": "10042", "key": "ENG-42"}) == "jira:10042"
    assert failure_id({"key": "ENG-5", "fields": {}}) == "jira:ENG-5"
    assert failure_id({"id": "", "key": "eng-5"}) == "jira:ENG-5"
    nameless = failure_id({"fields": {"summary": "who am I"}})
    assert nameless.startswith("jira:unidentified-") and nameless == failure_id({"fields": {"summary": "who am I"}})
    assert failure_id("not an object").startswith("jira:unidentified-")


def test_an_issue_without_an_id_fails_under_its_key_not_jira_question_mark() -> None:
    no_id = {"key": "ENG-5", "fields": {"summary": "x", "comment": {"comments": [], "total": 0}}}
    [failure] = list(
        mock_jira([no_id]).fetch(Partition(source="jira", scope="ENG", start=WINDOW.start, end=WINDOW.end))
    )
    assert isinstance(failure, FetchFailure) and failure.id == "jira:ENG-5"


# -- refetch partitions --------------------------------------------------------------------------------------


def test_refetch_partitions_are_chunked_and_hold_only_ids_and_keys() -> None:
    ids = [f"jira:{10000 + n}" for n in range(1203)]
    parts = mock_jira([]).refetch_partitions([*ids, *ids[:10], *JUNK, "jira:eng-7", "jira:ENG-7"], None, WINDOW)
    assert [len(scoped_ids(p)) for p in parts] == [500, 500, 204]
    scoped = [i for p in parts for i in scoped_ids(p)]
    assert scoped == [str(10000 + n) for n in range(1203)] + ["ENG-7"]  # unique, numeric first, then keys
    assert all(p.source == "jira" and p.end == WINDOW.end and p.start < WINDOW.start for p in parts)


def test_no_lookable_id_means_no_refetch_partition() -> None:
    assert mock_jira([]).refetch_partitions(JUNK, None, WINDOW) == []
    assert mock_jira([]).refetch_partitions([], None, WINDOW) == []


# -- against the sandbox -------------------------------------------------------------------------------------


def settings_for(sb: RunningSandbox) -> Settings:
    return Settings(**{k.lower(): v for k, v in sb.env.items() if k.startswith("JIRA_")})


@pytest.fixture
def deleted(fresh_sandbox: RunningSandbox) -> Any:
    """Issue ids of the sandbox before ENG-4 is deleted, and ENG-4's id."""
    before = fresh_sandbox.control("jira/stats", {})["issue_ids"]
    gone = fresh_sandbox.control("jira/delete_issue", {"key": "ENG-4"})["id"]
    yield before, gone
    fresh_sandbox.control("reset")


def test_refetch_reads_by_id_and_key_and_leaves_deleted_issues_out(fresh_sandbox: RunningSandbox, deleted: Any) -> None:
    before, gone = deleted
    alive = [i for i in before if i != gone][-3:]  # the last issues: not ENG-2, which is asked for by key
    asked = [f"jira:{i}" for i in [*alive, gone]] + ["jira:ENG-2", "jira:?"]
    recorder = RecordingTransport()
    with JiraConnector(
        JiraConfig.from_settings(settings_for(fresh_sandbox), rate_per_s=None), transport=recorder
    ) as jira:
        items = [item for part in jira.refetch_partitions(asked, None, WINDOW) for item in jira.fetch(part)]
    # The deleted issue is neither a document nor a failure (nor a 400): it is simply not returned.
    assert all(isinstance(i, Document) for i in items) and len(items) == 4
    assert {i.id for i in items} >= {f"jira:{n}" for n in alive} and f"jira:{gone}" not in {i.id for i in items}
    assert "ENG-2" in {i.metadata["key"] for i in items if isinstance(i, Document)}
    assert {r.url.path.rsplit("/rest", 1)[1] for r in recorder.requests} == {"/api/3/issue/bulkfetch"}  # no JQL


def test_existing_ids_drops_deleted_and_unknown_ids(fresh_sandbox: RunningSandbox, deleted: Any) -> None:
    before, gone = deleted
    alive = [f"jira:{i}" for i in before if i != gone]
    never = [f"jira:{90000 + n}" for n in range(150)]  # never existed; also forces several bulkfetch calls
    asked = [*alive, f"jira:{gone}", *never, "jira:ENG-2", "jira:eng-3", "jira:NOPE-1", *JUNK]
    recorder = RecordingTransport()
    with JiraConnector(
        JiraConfig.from_settings(settings_for(fresh_sandbox), rate_per_s=None), transport=recorder
    ) as jira:
        assert jira.existing_ids(asked) == {*alive, "jira:ENG-2", "jira:eng-3"}
        sent = [json.loads(r.content)["issueIdsOrKeys"] for r in recorder.requests]
        assert all(0 < len(chunk) <= 100 for chunk in sent)
        assert sum(map(len, sent)) == len(alive) + 1 + 150 + 3  # every lookable id once, junk never
        recorder.requests.clear()
        assert jira.existing_ids(JUNK) == set() and recorder.requests == []
