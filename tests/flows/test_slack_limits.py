"""Slack under the 2025 non-Marketplace limit (history/replies 1 request per "minute", 15 messages a page): a small
workspace completes, verified, and the run's log shows each page with the wait and the time left.

The minute is compressed on both sides: the sandbox's Tier 1 period (``tier1_period_s``) and the client's
``SLACK_TIER1_INTERVAL_S``, so the test takes seconds while every request still goes through the Tier 1 bucket.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from flows.slack import slack_backfill
from sandbox.server import RunningSandbox
from tests.flows.flow_helpers import counters, exported, simulator_env
from tests.flows.slack_helpers import channels, expected_documents, stored_texts

PERIOD_S = 0.3  # the sandbox's Tier 1 "minute"


@pytest.fixture
def limited_env(backfill_env: dict[str, str], fresh_sandbox: RunningSandbox) -> Iterator[dict[str, str]]:
    fresh_sandbox.control("faults", {"slack": {"quota": True, "non_marketplace": True, "tier1_period_s": PERIOD_S}})
    env = {
        **simulator_env(fresh_sandbox),
        "SLACK_NON_MARKETPLACE": "true",
        "SLACK_TIER1_INTERVAL_S": str(PERIOD_S * 1.25),
        "SLACK_RATE_PER_S": "5",  # the other methods: under the sandbox's tiers
    }
    with exported(env):
        yield {**backfill_env, **env}


def test_non_marketplace_run_completes_and_shows_progress_and_time_left(
    limited_env: dict[str, str], fresh_sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    sb = fresh_sandbox
    channel = next(c for c in channels(sb) if c["is_member"] and not c["is_archived"] and not c["is_private"])
    for n in range(40):  # a busy week: three pages of 15 in the newest slice
        sb.control("slack/post_message", {"channel": channel["id"], "days_ago": 7 - n / 8, "text": f"Busy week {n}"})
    caplog.set_level(logging.INFO)

    summary = slack_backfill(full=True, channels=[channel["name"]])

    assert summary["status"] == "verified"
    sb.control("faults", {"slack": {"quota": False, "non_marketplace": False}})  # the oracle reads at full speed
    expected = expected_documents(sb, {channel["id"]})
    assert set(stored_texts(sb)) == set(expected)
    seen = counters(sb)
    history = sum(n for key, n in seen.items() if key.endswith("/conversations.history"))
    assert history >= 3
    # Shown through the run's logger (Prefect prints it on the terminal), not only the connector's own logger.
    shown = [r.getMessage() for r in caplog.records if r.name.startswith("prefect")]
    pages = [line for line in shown if line.startswith(f"slack #{channel['name']}: page")]
    assert pages and all("next request in" in line for line in pages), shown[-10:]
    assert any(" left for this slice" in line and "about " in line for line in pages), pages
