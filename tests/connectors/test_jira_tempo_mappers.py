"""Pure mappers on recorded-style raw JSON (shapes from the reference), and failure-as-data via MockTransport."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.base import FetchFailure, Partition
from connectors.jira import IssueRef, JiraConfig, JiraConnector, issue_to_document, window_jql
from connectors.tempo import TempoConfig, TempoConnector, worklog_to_document
from core.settings import Settings
from ingest.document import Document

ISSUE: dict[str, Any] = json.loads("""
{"id":"10042","key":"ENG-42","self":"https://acme.atlassian.net/rest/api/3/issue/10042","fields":{
 "summary":"Checkout fails on Safari",
 "description":{"type":"doc","version":1,"content":[{"type":"paragraph","content":[
   {"type":"text","text":"Repro on 17.4, cc "},{"type":"mention","attrs":{"id":"5b10","text":"@Mia Krystof"}}]}]},
 "status":{"id":"3","name":"In Progress","statusCategory":{"key":"indeterminate","name":"In Progress"}},
 "issuetype":{"id":"10004","name":"Bug","subtask":false},"priority":{"id":"2","name":"High"},
 "assignee":{"accountId":"5b10","displayName":"Mia Krystof","active":true},
 "reporter":{"accountId":"712020:3c1e","displayName":"Sam Lee","active":true},
 "created":"2025-03-01T09:15:22.123+0000","updated":"2025-03-04T17:02:10.456+0000",
 "project":{"id":"10000","key":"ENG","name":"Engineering"},"labels":["safari"],
 "comment":{"comments":[{"id":"10100","author":{"accountId":"5b10","displayName":"Mia Krystof","active":true},
   "body":{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"On it."}]}]},
   "created":"2025-03-02T08:00:00.000+0000"}],"maxResults":1,"total":1,"startAt":0}}}
""")

WORKLOG: dict[str, Any] = json.loads("""
{"self":"https://api.tempo.io/4/worklogs/126","tempoWorklogId":126,
 "issue":{"self":"https://acme.atlassian.net/rest/api/2/issue/10042","id":10042},
 "timeSpentSeconds":3600,"billableSeconds":3600,"startDate":"2025-01-06","startTime":"09:30:00",
 "startDateTimeUtc":"2025-01-06T08:30:00Z","description":"Investigating checkout bug",
 "createdAt":"2025-01-06T10:31:00Z","updatedAt":"2025-01-06T10:31:00Z",
 "author":{"accountId":"712020:3c1e"},
 "attributes":{"self":"https://api.tempo.io/4/worklogs/126/work-attribute-values",
   "values":[{"key":"_Account_","value":"ACME-01"}]}}
""")

JIRA_URL = "https://acme.atlassian.net"
SETTINGS = Settings(
    jira_url=JIRA_URL,
    jira_email="me@acme.com",
    jira_api_token=SecretStr("tok-jira-123456"),
    tempo_api_url="https://api.tempo.io",
    tempo_api_token=SecretStr("tok-tempo-123456"),
)
MARCH = Partition(
    source="jira", scope="ENG", start=datetime(2025, 3, 1, tzinfo=UTC), end=datetime(2025, 4, 1, tzinfo=UTC)
)


def test_issue_maps_to_a_document() -> None:
    doc = issue_to_document(ISSUE, ISSUE["fields"]["comment"]["comments"], JIRA_URL + "/")
    assert doc.id == "jira:10042" and doc.source == "jira"
    assert doc.title == "ENG-42: Checkout fails on Safari"
    assert doc.url == "https://acme.atlassian.net/browse/ENG-42"
    assert doc.text == (
        "ENG-42: Checkout fails on Safari\n\nRepro on 17.4, cc @Mia Krystof\n\n"
        "Comments:\n\nMia Krystof (2025-03-02 08:00 UTC):\nOn it."
    )
    assert doc.created_at == datetime(2025, 3, 1, 9, 15, 22, 123000, tzinfo=UTC)
    assert doc.metadata == {
        "project": "ENG",
        "key": "ENG-42",
        "status": "In Progress",
        "type": "Bug",
        "priority": "High",
        "assignee": "Mia Krystof",
        "reporter": "Sam Lee",
        "labels": ["safari"],
        "created": "2025-03-01T09:15:22.123+0000",
        "updated": "2025-03-04T17:02:10.456+0000",
        "comment_count": 1,
        "restricted_comments": 0,
        "security_level": "none",
    }
    assert doc.acl == ["jira:project:ENG"]


def test_issue_with_nulls_maps_and_drops_empty_metadata() -> None:
    raw = copy.deepcopy(ISSUE)
    raw["fields"].update(description=None, assignee=None, priority=None, labels=[])
    doc = issue_to_document(raw, [], JIRA_URL)
    assert doc.text == "ENG-42: Checkout fails on Safari"
    assert "assignee" not in doc.metadata and "priority" not in doc.metadata


def test_window_jql_uses_epoch_ms_and_a_total_order() -> None:
    assert window_jql("AND", MARCH.start, MARCH.end) == (
        'project = "AND" AND updated >= 1740787200000 AND updated < 1743465600000 ORDER BY updated ASC, key ASC'
    )


def test_worklog_maps_to_a_document() -> None:
    doc = worklog_to_document(WORKLOG, IssueRef("ENG-42", "Checkout fails on Safari", ""), JIRA_URL)
    assert doc.id == "tempo:126" and doc.url == f"{JIRA_URL}/browse/ENG-42"
    assert "ENG-42 Checkout fails on Safari" in doc.text and "1.0 h" in doc.text
    assert "Investigating checkout bug" in doc.text and "2025-01-06" in doc.text
    assert doc.metadata["issue_key"] == "ENG-42" and doc.metadata["hours"] == 1.0
    assert doc.metadata["attributes"] == ["_Account_=ACME-01"]


def test_worklog_on_an_issue_jira_no_longer_has_still_maps() -> None:
    doc = worklog_to_document(WORKLOG, None, JIRA_URL)
    assert "issue_key" not in doc.metadata and doc.metadata["issue_id"] == "10042"
    assert doc.url == "https://api.tempo.io/4/worklogs/126"


def _text(value: str) -> dict[str, str]:
    return {"type": "text", "text": value}


def _jira_api(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/rest/api/3/search/jql":
        body = json.loads(request.content)
        assert "startAt" not in body and body["fields"]
        good = copy.deepcopy(ISSUE)
        good["fields"]["comment"] = {**good["fields"]["comment"], "total": 3}  # embedded list is short
        no_comments: dict[str, Any] = {"comments": [], "total": 0}
        broken_fields = {"summary": "no dates", "comment": no_comments, "project": {"key": "ENG"}}
        broken = {"id": "10043", "key": "ENG-43", "fields": broken_fields}
        gone = copy.deepcopy(ISSUE) | {"id": "10044", "key": "ENG-44"}
        gone["fields"]["comment"] = {"comments": [], "total": 5}
        return httpx.Response(200, json={"issues": [good, broken, gone], "isLast": True})
    if path == "/rest/api/3/issue/10042/comment":
        start = int(request.url.params["startAt"])
        comments = [
            {"id": str(200 + i), "author": {"displayName": f"P{i}"}, "created": f"2025-03-0{i + 1}T00:00:00Z",
             "body": {"type": "doc", "content": [{"type": "paragraph", "content": [_text(f"c{i}")]}]}}
            for i in range(3)
        ]  # fmt: skip
        return httpx.Response(200, json={"startAt": start, "total": 3, "comments": comments[start : start + 2]})
    if path == "/rest/api/3/issue/10044/comment":
        return httpx.Response(404, json={"errorMessages": ["Issue does not exist"]})
    if path == "/rest/api/3/issue/bulkfetch":
        ids = json.loads(request.content)["issueIdsOrKeys"]
        assert len(ids) <= 100
        issues = [{"id": i, "key": f"ENG-{i}", "fields": {"summary": f"S{i}"}} for i in ids if i != "99999"]
        return httpx.Response(200, json={"issues": issues, "issueErrors": []})
    return httpx.Response(404)


def test_jira_fetch_pages_short_comments_and_keeps_bad_records_as_failures() -> None:
    jira = JiraConnector(JiraConfig.from_settings(SETTINGS, rate_per_s=None), transport=httpx.MockTransport(_jira_api))
    items = list(jira.fetch(MARCH))
    assert [type(i).__name__ for i in items] == ["Document", "FetchFailure", "FetchFailure"]
    doc, unmappable, no_comments = items
    assert isinstance(doc, Document) and doc.metadata["comment_count"] == 3
    assert "P2 (2025-03-03 00:00 UTC):\nc2" in doc.text
    assert isinstance(unmappable, FetchFailure) and unmappable.id == "jira:10043"
    assert "created" in unmappable.reason
    assert isinstance(no_comments, FetchFailure) and no_comments.id == "jira:10044"
    assert "404" in no_comments.reason and "tok-jira" not in no_comments.reason


def test_bulkfetch_chunks_by_100_and_omits_missing_ids() -> None:
    jira = JiraConnector(JiraConfig.from_settings(SETTINGS, rate_per_s=None), transport=httpx.MockTransport(_jira_api))
    found = jira.bulkfetch_keys([*range(10000, 10250), 99999])
    assert len(found) == 250 and found["10001"] == ("ENG-10001", "S10001") and "99999" not in found


def _tempo_api(request: httpx.Request) -> httpx.Response:
    def wl(i: int, updated: str, issue: int = 10042) -> dict[str, Any]:
        return WORKLOG | {"tempoWorklogId": i, "updatedAt": updated, "issue": {"id": issue, "self": "x"}}

    base = "https://api.tempo.io/4/worklogs"
    if request.url.params.get("offset") == "2":
        page = [wl(2, "2025-01-20T00:00:00Z", 99999), wl(3, "2025-02-01T00:00:00Z"), {"tempoWorklogId": 4}]
        return httpx.Response(200, json={"metadata": {"count": 3, "offset": 2}, "results": page})
    assert request.url.params["updatedFrom"] == "2025-01-01T00:00:00Z"
    page = [wl(1, "2025-01-06T10:31:00Z"), wl(2, "2025-01-20T00:00:00Z", 99999)]
    return httpx.Response(200, json={"metadata": {"count": 2, "next": f"{base}?offset=2&limit=2"}, "results": page})


def test_tempo_dedupes_filters_to_the_partition_and_resolves_keys() -> None:
    jira = JiraConnector(JiraConfig.from_settings(SETTINGS, rate_per_s=None), transport=httpx.MockTransport(_jira_api))
    tempo = TempoConnector(
        TempoConfig.from_settings(SETTINGS, rate_per_s=None), jira, transport=httpx.MockTransport(_tempo_api)
    )
    january = Partition(
        source="tempo", scope="all", start=datetime(2025, 1, 1, tzinfo=UTC), end=datetime(2025, 2, 1, tzinfo=UTC)
    )
    items = list(tempo.fetch(january))
    ids = [i.id for i in items]
    assert ids == ["tempo:1", "tempo:2", "tempo:4"]  # 2 repeated across pages, 3 is February's
    first, second, broken = items
    assert isinstance(first, Document) and first.metadata["issue_key"] == "ENG-10042"
    assert isinstance(second, Document) and "issue_key" not in second.metadata
    assert isinstance(broken, FetchFailure) and "unmappable worklog" in broken.reason


@pytest.mark.parametrize("missing", ["jira_url", "jira_api_token"])
def test_missing_settings_fail_before_any_request(missing: str) -> None:
    from core.settings import SettingsError

    with pytest.raises(SettingsError, match=missing.upper()):
        JiraConnector(JiraConfig.from_settings(SETTINGS.model_copy(update={missing: None})))


def test_both_connectors_have_the_connector_shape() -> None:
    from connectors.base import Connector

    jira = JiraConnector(JiraConfig.from_settings(SETTINGS, rate_per_s=None), transport=httpx.MockTransport(_jira_api))
    assert isinstance(jira, Connector)
    assert isinstance(TempoConnector(TempoConfig.from_settings(SETTINGS, rate_per_s=None), jira), Connector)
