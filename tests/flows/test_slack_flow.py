"""The Slack flow against the sandbox: a full backfill holds every message once (replies included) and lists the
channels it could not read; late replies are picked up within the thread lookback, and a wider one reaches older
threads; each reply lands in its thread's document only."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from backfill.searching import search_index
from flows.slack import slack_backfill
from sandbox.server import RunningSandbox
from tests.flows.flow_helpers import exported, simulator_env
from tests.flows.slack_helpers import channels, chunk_zero, expected_documents, holders, stored_texts


@pytest.fixture
def slack_env(backfill_env: dict[str, str], fresh_sandbox: RunningSandbox) -> Iterator[dict[str, str]]:
    env = simulator_env(fresh_sandbox)
    with exported(env):
        yield {**backfill_env, **env}


def _probe(text: str) -> str:
    """A piece of a message that survives mapping verbatim: its start, before any Slack markup."""
    return re.split(r"<[@#!]|&", text, maxsplit=1)[0].strip()


def test_full_backfill_holds_every_message_once_and_lists_skipped_channels(
    slack_env: dict[str, str], fresh_sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = slack_backfill(full=True, include_archived=True)

    assert summary["status"] == "verified"
    readable = {c["id"] for c in channels(fresh_sandbox) if c["is_member"]}  # after the run: joined ones too
    unreadable = [c for c in channels(fresh_sandbox) if not c["is_member"]]
    assert unreadable, "the sandbox has an archived channel the bot is not in"
    for channel in unreadable:
        assert any(line.startswith(f"#{channel['name']} ({channel['id']})") for line in summary["skipped"])

    expected = expected_documents(fresh_sandbox, readable)
    texts = stored_texts(fresh_sandbox)
    docs = set(texts)
    missing, extra = sorted(set(expected) - docs), sorted(docs - set(expected))
    assert not missing and not extra, f"missing {missing[:5]}, extra {extra[:5]}"
    meta = chunk_zero(fresh_sandbox, sorted(docs))
    assert {d: m["message_count"] for d, m in meta.items()} == {d: len(t) for d, t in expected.items()}
    # Every message, replies included, is in exactly one document (a probe another message also holds is skipped).
    every = [t for ts in expected.values() for t in ts]
    checked = 0
    for doc_id, messages in expected.items():
        for text in messages:
            probe = _probe(text)
            if len(probe) >= 20 and sum(probe in other for other in every) == 1:
                assert holders(texts, probe) == [doc_id], probe
                checked += 1
    assert checked > len(every) / 2, (checked, len(every))
    assert {m["channel_private"] for m in meta.values()} == {True, False}
    assert all(m["acl"] == [f"slack:channel:{m['channel_id']}"] for m in meta.values())
    assert all(m["channel_members"] for m in meta.values() if m["channel_private"])

    # `backfill search --where channel_name=…` keeps that channel's chunks only.
    private = next(m for m in meta.values() if m["channel_private"])
    hits = search_index("deploy", source="slack", top_k=5, where={"channel_name": str(private["channel_name"])})
    assert hits and {h["doc_id"].split(":")[1] for h in hits} == {private["channel_id"]}
    assert search_index("deploy", source="slack", where={"channel_private": "true", "channel_name": "no-such"}) == []

    # `backfill search --as`: grants derived from membership (channel_members) let a member of the private channel
    # find its documents; a principal granted only the public channels never sees them.
    public = sorted({f"slack:channel:{m['channel_id']}" for m in meta.values() if not m["channel_private"]})
    member = str(private["channel_members"][0])
    grants = {member: [*public, f"slack:channel:{private['channel_id']}"], "outsider": public}
    grants_file = tmp_path / "grants.json"
    grants_file.write_text(json.dumps(grants))
    monkeypatch.setenv("BACKFILL_GRANTS_FILE", str(grants_file))
    query = str(private["title"])
    found = search_index(query, source="slack", top_k=50, principal=member)
    assert any(h["doc_id"].split(":")[1] == private["channel_id"] for h in found), query
    hidden = search_index(query, source="slack", top_k=50, principal="outsider")
    assert hidden and all(h["doc_id"].split(":")[1] != private["channel_id"] for h in hidden)


def test_late_replies_land_in_their_threads_within_the_lookback(
    slack_env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    sb = fresh_sandbox
    channel = next(c for c in channels(sb) if c["is_member"] and not c["is_archived"] and not c["is_private"])["id"]
    young = sb.control("slack/post_message", {"channel": channel, "days_ago": 20, "text": "Parent twenty days old"})
    old = sb.control("slack/post_message", {"channel": channel, "days_ago": 60, "text": "Parent sixty days old"})
    assert slack_backfill(full=True)["status"] == "verified"

    sb.control("clock", {"advance_seconds": 3600})
    sb.control("slack/late_reply", {"channel": channel, "thread_ts": young["ts"], "text": "Late reply twenty"})
    sb.control("slack/late_reply", {"channel": channel, "thread_ts": old["ts"], "text": "Late reply sixty"})
    young_thread, old_thread = f"slack:{channel}:{young['ts']}", f"slack:{channel}:{old['ts']}"

    first = slack_backfill()  # incremental, thread_lookback_days=30
    assert first["status"] == "verified"
    texts = stored_texts(sb)
    assert holders(texts, "Late reply twenty") == [young_thread]
    assert holders(texts, "Parent twenty days old") == [young_thread]  # left its day document
    assert holders(texts, "Late reply sixty") == []
    assert holders(texts, "Parent sixty days old") != [old_thread]
    assert any("--thread-lookback-days" in note and "full" in note for note in first["notes"]), first["notes"]

    wider = slack_backfill(thread_lookback_days=90)
    assert wider["status"] == "verified"
    texts = stored_texts(sb)
    assert holders(texts, "Late reply sixty") == [old_thread]
    assert holders(texts, "Parent sixty days old") == [old_thread]
    assert holders(texts, "Late reply twenty") == [young_thread]
    assert wider["embedded"] <= 6  # two threads, their two days, nothing else re-embedded
