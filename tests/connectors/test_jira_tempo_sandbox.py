"""Jira and Tempo connectors driven to the end against the sandbox, over real HTTP on 127.0.0.1.

This module runs its own sandbox instance (not the shared session one) because it flips per-API switches
(time zone, auth failure) that other tests must never observe.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.base import FetchFailure, Partition, Window
from connectors.errors import AuthError
from connectors.http import RetryPolicy
from connectors.jira import JiraConfig, JiraConnector
from connectors.tempo import TempoConfig, TempoConnector
from core.settings import Settings
from ingest.document import Document
from sandbox.server import RunningSandbox, start_sandbox

# The sandbox clock starts at 2026-11-01; its small corpus reaches back about two years.
WINDOW = Window(start=datetime(2024, 1, 1, tzinfo=UTC), end=datetime(2026, 11, 2, tzinfo=UTC))


class RecordingTransport(httpx.HTTPTransport):
    """A real HTTP transport that remembers every request it sent (the client factory's transport seam)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)


@pytest.fixture(scope="module")
def sb() -> Iterator[RunningSandbox]:
    running = start_sandbox(seed=42, scale=0.01, profile="none")
    try:
        yield running
    finally:
        running.stop()


def settings_for(sb: RunningSandbox, **overrides: Any) -> Settings:
    values = {k.lower(): v for k, v in sb.env.items() if k.startswith(("JIRA_", "TEMPO_"))}
    return Settings(**{**values, **overrides})


Opener = Callable[[Any], Any]


@pytest.fixture
def opened(request: pytest.FixtureRequest) -> Opener:
    """Register a connector to be closed after the test (its client holds pooled sockets)."""

    def register(connector: Any) -> Any:
        request.addfinalizer(connector.close)
        return connector

    return register


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def jira(sb: RunningSandbox, transport: RecordingTransport) -> Iterator[JiraConnector]:
    connector = JiraConnector(JiraConfig.from_settings(settings_for(sb), rate_per_s=None), transport=transport)
    yield connector
    connector.close()


def fetch_all(connector: JiraConnector | TempoConnector, parts: list[Partition]) -> list[Document | FetchFailure]:
    return [item for part in parts for item in connector.fetch(part)]


def only_docs(items: list[Document | FetchFailure]) -> list[Document]:
    failures = [i for i in items if isinstance(i, FetchFailure)]
    assert failures == []
    return [i for i in items if isinstance(i, Document)]


def test_full_jira_fetch_is_complete_unique_and_never_sends_start_at(
    jira: JiraConnector, transport: RecordingTransport
) -> None:
    parts = jira.partitions(WINDOW, active_only=False)
    docs = only_docs(fetch_all(jira, parts))
    ids = [d.id for d in docs]
    assert len(ids) == len(set(ids)) > 0
    expected = {i for key in {p.scope for p in parts} for i in jira.list_ids(key)}
    assert set(ids) == expected

    searches = [r for r in transport.requests if r.url.path.endswith("/rest/api/3/search/jql")]
    assert searches
    for request in searches:
        assert "startAt" not in request.url.params
        assert b"startAt" not in request.content

    doc = docs[0]
    assert doc.url == f"{jira.base_url}/browse/{doc.metadata['key']}"
    assert {"project", "key", "status", "type", "labels", "created", "updated"} <= set(doc.metadata)


def test_small_pages_follow_next_page_token_to_the_same_set(sb: RunningSandbox, opened: Opener) -> None:
    recorder = RecordingTransport()
    small = opened(
        JiraConnector(JiraConfig.from_settings(settings_for(sb), rate_per_s=None), transport=recorder, page_size=7)
    )
    project = small.projects()[0]["key"]
    whole = Partition(source="jira", scope=project, start=WINDOW.start, end=WINDOW.end)
    ids = [d.id for d in only_docs(list(small.fetch(whole)))]
    assert len(ids) == len(set(ids)) == len(set(small.list_ids(project))) > 7 * 2
    searches = [r for r in recorder.requests if r.url.path.endswith("/search/jql") and b"updated >=" in r.content]
    tokens = [json.loads(r.content).get("nextPageToken") for r in searches]
    assert tokens[0] is None and all(tokens[1:]) and len(set(tokens[1:])) == len(tokens) - 1
    assert all("startAt" not in json.loads(r.content) for r in searches)


def test_active_only_skips_archived_projects(jira: JiraConnector) -> None:
    every = {p["key"] for p in jira.projects(active_only=False)}
    live = {p["key"] for p in jira.projects()}
    archived = {p["key"] for p in jira.projects(active_only=False) if p.get("archived")}
    assert live == every - archived and archived  # the sandbox always has an archived project


def test_every_comment_is_fetched_for_an_issue_with_more_than_100(sb: RunningSandbox, jira: JiraConnector) -> None:
    docs = only_docs(fetch_all(jira, jira.partitions(WINDOW, active_only=False)))
    busy = max(docs, key=lambda d: int(d.metadata["comment_count"]))  # type: ignore[arg-type]
    issue_id = busy.id.removeprefix("jira:")
    auth = (sb.env["JIRA_EMAIL"], sb.env["JIRA_API_TOKEN"])
    page = httpx.get(f"{sb.env['JIRA_URL']}/rest/api/3/issue/{issue_id}/comment?maxResults=1", auth=auth)
    total = page.json()["total"]
    assert total > 100
    assert busy.metadata["comment_count"] == total
    comment_ids = [c["id"] for c in jira.issue_comments(issue_id)]
    assert len(comment_ids) == len(set(comment_ids)) == total


def test_bad_token_fails_fast_with_the_setting_named(
    sb: RunningSandbox, transport: RecordingTransport, opened: Opener
) -> None:
    wrong = "definitely-not-the-token"
    connector = opened(
        JiraConnector(
            JiraConfig.from_settings(settings_for(sb, jira_api_token=SecretStr(wrong)), rate_per_s=None),
            transport=transport,
        )
    )
    with pytest.raises(AuthError) as caught:
        connector.check()
    assert str(caught.value).startswith(f"Jira rejected JIRA_API_TOKEN for {sb.env['JIRA_URL']}")
    assert wrong not in str(caught.value)
    part = Partition(source="jira", scope="ENG", start=WINDOW.start, end=WINDOW.end)
    with pytest.raises(AuthError):
        list(connector.fetch(part))
    assert len(transport.requests) == 2  # one per call: no retry storm


def test_tempo_401_names_tempo_token(sb: RunningSandbox, jira: JiraConnector, opened: Opener) -> None:
    tempo = opened(
        TempoConnector(
            TempoConfig.from_settings(settings_for(sb, tempo_api_token=SecretStr("nope-nope")), rate_per_s=None), jira
        )
    )
    with pytest.raises(AuthError, match=r"^Tempo rejected TEMPO_API_TOKEN for http://127\.0\.0\.1"):
        tempo.check()


def test_time_zone_of_the_account_does_not_change_the_issue_set(sb: RunningSandbox, jira: JiraConnector) -> None:
    parts = jira.partitions(WINDOW)
    in_utc = {d.id: d.updated_at for d in only_docs(fetch_all(jira, parts))}
    try:
        for zone in ("Pacific/Kiritimati", "America/Los_Angeles"):
            sb.control("jira/set_timezone", {"tz": zone})
            elsewhere = {d.id: d.updated_at for d in only_docs(fetch_all(jira, parts))}
            assert elsewhere == in_utc, zone
    finally:
        sb.control("jira/set_timezone", {"tz": "UTC"})


def test_tempo_worklogs_complete_unique_with_keys_resolved(
    sb: RunningSandbox, jira: JiraConnector, opened: Opener
) -> None:
    tempo = opened(TempoConnector(TempoConfig.from_settings(settings_for(sb), rate_per_s=None), jira))
    tempo.check()
    parts = tempo.partitions(WINDOW)
    assert {p.scope for p in parts} == {"all"}
    docs = only_docs(fetch_all(tempo, parts))
    ids = [d.id for d in docs]
    assert len(ids) == len(set(ids)) > 0
    assert set(ids) == set(tempo.list_ids())  # the one partition covers the whole set exactly once

    issue_ids = {str(d.metadata["issue_id"]) for d in docs}
    truth = jira.bulkfetch_keys(issue_ids)
    for doc in docs:
        key, summary = truth[str(doc.metadata["issue_id"])]
        assert doc.metadata["issue_key"] == key and doc.metadata["issue_summary"] == summary
        assert key in doc.text and doc.url.endswith(f"/browse/{key}")
        assert parts[0].start <= doc.updated_at < parts[-1].end


def test_tempo_partitions_use_updated_from_and_a_wide_work_date(
    sb: RunningSandbox, jira: JiraConnector, opened: Opener
) -> None:
    recorder = RecordingTransport()
    tempo = opened(
        TempoConnector(TempoConfig.from_settings(settings_for(sb), rate_per_s=None), jira, transport=recorder)
    )
    [whole] = tempo.partitions(WINDOW)  # one partition: Tempo has no upper bound to split on
    part = Partition(source="tempo", scope="all", start=datetime(2026, 6, 1, tzinfo=UTC), end=whole.end)
    inside = [d for d in tempo.fetch(part) if isinstance(d, Document)]
    assert all(part.contains(d.updated_at) for d in inside)
    first = recorder.requests[0].url.params
    assert first["updatedFrom"] == part.start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert first["from"] <= "1970-01-01" and first["to"] >= "2999-12-31"


def test_flaky_and_hostile_faults_are_absorbed_without_losing_or_repeating_items(
    sb: RunningSandbox, jira: JiraConnector
) -> None:
    # Same seed and scale as the clean sandbox, so the same corpus; faults: 429s, 5xx, dropped connections,
    # HTML pages under HTTP 200 and truncated JSON bodies. Latency and quota are off to keep the suite fast.
    noisy = {"html_200": 0.03, "truncate": 0.03, "latency_ms": 0.0, "quota": False, "retry_after": 0.05}
    bad = start_sandbox(seed=42, scale=0.01, profile="flaky", overrides={"jira": noisy, "tempo": noisy})
    retry = RetryPolicy(backoff_base_s=0.02, backoff_max_s=0.2, max_attempts=8, malformed_attempts=4)
    try:
        with (
            JiraConnector(
                JiraConfig.from_settings(settings_for(bad), rate_per_s=None), retry=retry, page_size=10
            ) as flaky_jira,
            TempoConnector(
                TempoConfig.from_settings(settings_for(bad), rate_per_s=None), flaky_jira, retry=retry
            ) as flaky_tempo,
        ):
            keys = [p["key"] for p in flaky_jira.projects()]
            whole = [Partition(source="jira", scope=k, start=WINDOW.start, end=WINDOW.end) for k in keys]
            got = [d.id for d in only_docs(fetch_all(flaky_jira, whole))]
            assert len(got) == len(set(got))
            assert set(got) == {i for k in keys for i in jira.list_ids(k)}

            everything = Partition(source="tempo", scope="all", start=WINDOW.start, end=WINDOW.end)
            worklogs = only_docs(fetch_all(flaky_tempo, [everything]))
            assert len({d.id for d in worklogs}) == len(worklogs) > 0
            assert all("issue_key" in d.metadata for d in worklogs)
        injected = bad.control("counters")["faults"]
        assert sum(injected.values()) > 0  # the faults really happened
    finally:
        bad.stop()
