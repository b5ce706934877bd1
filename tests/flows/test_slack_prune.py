"""Pruning Slack: a deleted thread and a day whose only message was deleted leave the index, exactly, verified."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from flows.prune import prune
from flows.slack import slack_backfill
from sandbox.server import RunningSandbox
from tests.flows.flow_helpers import exported, pinecone_ids, simulator_env
from tests.flows.slack_helpers import channels, expected_documents


@pytest.fixture
def slack_env(backfill_env: dict[str, str], fresh_sandbox: RunningSandbox) -> Iterator[dict[str, str]]:
    env = simulator_env(fresh_sandbox)
    with exported(env):
        yield {**backfill_env, **env}


def _docs(sb: RunningSandbox) -> set[str]:
    return {vid.rsplit("#", 1)[0] for vid in pinecone_ids(sb, "slack:")}


def test_prune_removes_a_deleted_thread_and_an_emptied_day(
    slack_env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    sb = fresh_sandbox
    channel = next(c for c in channels(sb) if c["is_member"] and not c["is_archived"] and not c["is_private"])["id"]
    alone = sb.control("slack/post_message", {"channel": channel, "days_ago": 400, "text": "A lonely day"})
    assert slack_backfill(full=True)["status"] == "verified"
    before = _docs(sb)
    thread = next(d for d in sorted(before) if d.startswith(f"slack:{channel}:") and "-" not in d.split(":")[2])
    sb.control("slack/delete_message", {"channel": channel, "ts": thread.split(":")[2]})
    sb.control("slack/delete_message", {"channel": channel, "ts": alone["ts"]})
    day = datetime.fromtimestamp(float(alone["ts"]), UTC).date().isoformat()
    gone = {thread, f"slack:{channel}:{day}"}
    assert gone <= before

    result = prune(source="slack")

    assert result["deleted_documents"] == 2, result
    assert _docs(sb) == before - gone
    readable = {c["id"] for c in channels(sb) if c["is_member"] and not c["is_archived"]}
    assert _docs(sb) == set(expected_documents(sb, readable))
