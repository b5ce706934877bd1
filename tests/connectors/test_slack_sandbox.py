"""The Slack connector against the sandbox over real HTTP: channels joined or reported as skipped, the channel
filter, late-reply lookback partitions, documents' names, mentions, permalinks and permissions, members that do
not fit, bot posts on request."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.base import FetchFailure, Partition, RunNote, SkippedScope, Window
from connectors.http import RetryPolicy
from connectors.slack import SlackConnector, UnknownChannelError
from connectors.slack_api import SlackConfig
from core.planning import FULL_HISTORY_START
from core.settings import Settings
from ingest.document import Document
from sandbox.server import RunningSandbox


def _connector(sb: RunningSandbox, **overrides: Any) -> SlackConnector:
    values = {k.lower(): v for k, v in sb.env.items() if k.startswith("SLACK_")}
    settings = Settings(**values, slack_rate_per_s=1000.0)
    config = SlackConfig.from_settings(settings, retry=RetryPolicy(sleep=lambda _s: None), **overrides)
    return SlackConnector(config)


@pytest.fixture
def sb(fresh_sandbox: RunningSandbox) -> Iterator[RunningSandbox]:
    yield fresh_sandbox
    fresh_sandbox.control("reset")  # joins and canned responses must not outlive the test


def _read(connector: SlackConnector, partitions: list[Partition]) -> list[object]:
    return [item for partition in partitions for item in connector.fetch(partition)]


def _full(sb: RunningSandbox) -> Window:
    return Window(start=FULL_HISTORY_START, end=sb.ctx.clock.now() + timedelta(minutes=1))


def test_a_public_channel_is_joined_unless_joining_is_off_then_it_is_skipped(sb: RunningSandbox) -> None:
    with _connector(sb, join_public_channels=False) as connector:
        outsider = next(c for c in connector.channels().values() if not c.is_member and not c.is_private)
        items = _read(connector, connector.partitions(_full(sb), channels=[outsider.name]))
    skipped = {item for item in items if isinstance(item, SkippedScope)}
    assert skipped == {SkippedScope(scope=outsider.label, reason=next(iter(skipped)).reason)}
    assert "SLACK_JOIN_PUBLIC_CHANNELS" in next(iter(skipped)).reason
    assert not [item for item in items if isinstance(item, Document)]

    with _connector(sb) as connector:
        items = _read(connector, connector.partitions(_full(sb), channels=[outsider.id]))
    assert not [item for item in items if isinstance(item, SkippedScope)]
    assert {item.metadata["channel_id"] for item in items if isinstance(item, Document)} == {outsider.id}


def test_an_unknown_channel_in_the_filter_is_an_error_naming_it(sb: RunningSandbox) -> None:
    with _connector(sb) as connector, pytest.raises(UnknownChannelError, match="'no-such-channel'"):
        connector.partitions(_full(sb), channels=["general", "no-such-channel"])


def test_documents_carry_names_permalinks_and_channel_permissions(sb: RunningSandbox) -> None:
    with _connector(sb) as connector:
        docs = [i for i in _read(connector, connector.partitions(_full(sb))) if isinstance(i, Document)]
    assert docs
    for doc in docs:
        assert "<@U" not in doc.text  # mentions became @name
        assert doc.acl == [f"slack:channel:{doc.metadata['channel_id']}"]
        assert re.fullmatch(
            rf"https://backfill-sandbox\.slack\.com/archives/{doc.metadata['channel_id']}/p\d{{16}}", doc.url
        )
        assert doc.created_at <= doc.updated_at
        assert "deploybot" not in doc.text and "has joined the channel" not in doc.text
    threads = [d for d in docs if d.metadata["kind"] == "thread"]
    assert threads and all(d.id == f"slack:{d.metadata['channel_id']}:{d.metadata['thread_ts']}" for d in threads)
    assert all(len(d.text.splitlines()) == d.metadata["message_count"] for d in docs if d.metadata["message_count"])


def test_bot_posts_are_included_when_configured(sb: RunningSandbox) -> None:
    with _connector(sb, include_bot_messages=True) as connector:
        docs = [i for i in _read(connector, connector.partitions(_full(sb))) if isinstance(i, Document)]
    assert any("deploybot: Deployed build" in doc.text for doc in docs)


def test_a_private_channel_with_more_members_than_fit_is_a_failure_not_a_cut_list(sb: RunningSandbox) -> None:
    with _connector(sb) as connector:
        private = next(c for c in connector.channels().values() if c.is_private and c.is_member)
        partitions = connector.partitions(_full(sb), channels=[private.id])
        members = {"ok": True, "members": [f"U{n:09d}" for n in range(101)], "response_metadata": {"next_cursor": ""}}
        canned = {"api": "slack", "path_contains": "/conversations.members", "status": 200,
                  "body_b64": base64.b64encode(json.dumps(members).encode()).decode(),
                  "content_type": "application/json", "times": len(partitions)}  # fmt: skip
        sb.control("canned", canned)
        items = _read(connector, partitions)
    failures = [i for i in items if isinstance(i, FetchFailure)]
    assert failures and not [i for i in items if isinstance(i, Document)]
    assert all("101 member ids" in f.reason and "never cut" in f.reason for f in failures)


def test_an_incremental_window_reaches_back_for_late_replies_and_says_so(sb: RunningSandbox) -> None:
    now = sb.ctx.clock.now()
    window = Window(start=now - timedelta(hours=6), end=now + timedelta(minutes=1))
    with _connector(sb) as connector:
        partitions = connector.partitions(window, channels=["general"], thread_lookback_days=30)
        items = _read(connector, partitions)
    first = min(p.start for p in partitions)
    assert first == (window.start - timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert {p.changed_since for p in partitions} == {window.start}
    notes = [i for i in items if isinstance(i, RunNote)]
    assert len(notes) == 1 and first.date().isoformat() in notes[0].text and "--thread-lookback-days" in notes[0].text
    assert all(d.updated_at >= window.start for d in items if isinstance(d, Document))
    # A plain full read of the same channel has no such partitions and no note.
    with _connector(sb) as connector:
        full = connector.partitions(_full(sb), channels=["general"])
    assert all(p.changed_since is None for p in full)
    assert Partition.model_validate(full[0].model_dump(mode="json")) == full[0]
    assert "changed_since" not in full[0].model_dump(mode="json")  # other sources' cache keys stay as they were


def test_refetch_reads_the_days_the_failed_ids_name(sb: RunningSandbox) -> None:
    window = Window(start=datetime(2026, 10, 1, tzinfo=UTC), end=datetime(2026, 11, 2, tzinfo=UTC))
    with _connector(sb) as connector:
        plan = connector.refetch_partitions(
            ["slack:C1:2025-03-04", "slack:C1:1741132800.000100", "slack:C2:2026-10-15", "jira:1"], None, window
        )
    assert [(p.scope, p.start.date().isoformat(), (p.end - p.start).days) for p in plan] == [
        ("C1", "2025-03-04", 1), ("C1", "2025-03-05", 1), ("C2", "2026-10-15", 1)
    ]  # fmt: skip


def test_a_channel_that_becomes_unreadable_mid_run_is_skipped_not_failed(sb: RunningSandbox) -> None:
    with _connector(sb) as connector:
        partitions = connector.partitions(_full(sb), channels=["general"])
        body = base64.b64encode(json.dumps({"ok": False, "error": "not_in_channel"}).encode()).decode()
        sb.control("canned", {"api": "slack", "path_contains": "/conversations.history", "status": 200,
                              "body_b64": body, "content_type": "application/json", "times": 1})  # fmt: skip
        items = list(connector.fetch(partitions[-1]))
    assert items == [SkippedScope(scope=partitions[-1].scope, reason=items[0].reason)]  # type: ignore[union-attr]
    assert "not_in_channel" in items[0].reason  # type: ignore[union-attr]


def test_a_token_without_the_join_scope_skips_the_channel_and_reads_the_others(sb: RunningSandbox) -> None:
    with _connector(sb) as connector:
        outsider = next(c for c in connector.channels().values() if not c.is_member and not c.is_private)
        member = next(c for c in connector.channels().values() if c.is_member and not c.is_private)
        body = {"ok": False, "error": "missing_scope", "needed": "channels:join", "provided": "channels:history"}
        sb.control("canned", {"api": "slack", "path_contains": "/conversations.join", "status": 200,
                              "body_b64": base64.b64encode(json.dumps(body).encode()).decode(),
                              "content_type": "application/json", "times": 100})  # fmt: skip
        items = _read(connector, connector.partitions(_full(sb), channels=[outsider.id, member.id]))
    skipped = {i.scope: i.reason for i in items if isinstance(i, SkippedScope)}
    assert list(skipped) == [outsider.label] and "channels:join" in skipped[outsider.label]
    assert {i.metadata["channel_id"] for i in items if isinstance(i, Document)} == {member.id}
