"""The proactive "no verified run" alert, evaluated by the local Prefect server itself (its `triggers` service).

With BACKFILL_FRESHNESS_<SOURCE>_HOURS=0.005 (18 s) for both sources:
- jira never reports ``backfill.source.verified``: its alert reaches the webhook one threshold after setup;
- tempo reports every few seconds, then stops: no alert while it reports, one a threshold after its last report.

Prefect 3.9's server evaluates proactive triggers every 5 s (``PREFECT_SERVER_EVENTS_PROACTIVE_GRANULARITY``), so
an alert comes 0-5 s after its window ends, plus the notification itself. Bounds below allow 20 s of that.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from prefect.events import emit_event

from core.settings import Settings
from flows.alerts import setup_alerts
from flows.pipeline import VERIFIED_EVENT
from tests.deploy.conftest import Webhook
from tests.deploy.deploy_helpers import FAKE_TOKENS

THRESHOLD_HOURS = "0.005"
THRESHOLD_S = 18.0
EARLY_SLACK_S = 3.0  # the server's events clock may put a window's start slightly before setup returned
LATE_SLACK_S = 20.0  # 5 s evaluation granularity + delivery
EMIT_EVERY_S = 5.0
EMIT_FOR_S = 35.0  # well over one threshold: an alert now would mean the events do not reset the window


def _setup(webhook_url: str, **env: str) -> dict[str, Any]:
    settings = Settings(**FAKE_TOKENS, slack_webhook_url=webhook_url, backfill_results_block=None)
    return setup_alerts(settings, env=env)


def _emit_verified(source: str) -> None:
    """The event flows/pipeline.py emits when a run is verified up to the watermark."""
    emit_event(
        event=VERIFIED_EVENT,
        resource={"prefect.resource.id": f"backfill.source.{source}", "prefect.resource.name": source},
        payload={"watermark": datetime.now(UTC).isoformat(), "documents": 1, "vectors": 1, "failures": 0},
    )


@pytest.fixture
def short_thresholds(alerts_setup: dict[str, Any], webhook: Webhook) -> Iterator[tuple[float, dict[str, Any]]]:
    done = _setup(
        webhook.json_url, BACKFILL_FRESHNESS_JIRA_HOURS=THRESHOLD_HOURS, BACKFILL_FRESHNESS_TEMPO_HOURS=THRESHOLD_HOURS
    )
    set_up_at = time.monotonic()
    try:
        yield set_up_at, done
    finally:
        _setup(webhook.json_url)  # back to the 26 h defaults: nothing else in the session should hear these


def test_prefect_alerts_on_a_source_that_stops_reporting_and_not_on_one_that_reports(
    short_thresholds: tuple[float, dict[str, Any]], webhook: Webhook
) -> None:
    set_up_at, done = short_thresholds
    assert done["automation_changes"]["backfill-stale-jira"] == "updated"  # in place: same id as the session's
    seen = len(webhook.posts)
    first_alert: dict[str, tuple[float, dict[str, Any]]] = {}
    last_emit = next_emit = time.monotonic()
    deadline = set_up_at + EMIT_FOR_S + THRESHOLD_S + LATE_SLACK_S
    while time.monotonic() < deadline and len(first_alert) < 2:
        now = time.monotonic()
        if now - set_up_at < EMIT_FOR_S and now >= next_emit:
            _emit_verified("tempo")
            last_emit, next_emit = now, now + EMIT_EVERY_S
        for post in webhook.posts[seen:]:
            for source in ("jira", "tempo"):
                if post.get("title", "").startswith(f"Backfill {source}:") and source not in first_alert:
                    first_alert[source] = (now, post)
        time.sleep(0.2)

    assert "jira" in first_alert, f"no proactive alert for jira; posts: {webhook.posts[seen:]}"
    jira_at, jira = first_alert["jira"]
    assert THRESHOLD_S - EARLY_SLACK_S <= jira_at - set_up_at <= THRESHOLD_S + LATE_SLACK_S, jira_at - set_up_at
    assert jira["title"] == "Backfill jira: no verified run within 0.005h (18s)"
    assert "BACKFILL_FRESHNESS_JIRA_HOURS" in jira["message"] and "backfill.source.jira" in jira["message"]
    assert "paused" in jira["message"]  # says why this alert exists next to the coverage one

    assert "tempo" in first_alert, f"no proactive alert for tempo after its reports stopped; {webhook.posts[seen:]}"
    tempo_at, tempo = first_alert["tempo"]
    # Not while it reported (each event restarts the window), and one threshold after the last report.
    assert THRESHOLD_S - EARLY_SLACK_S <= tempo_at - last_emit <= THRESHOLD_S + LATE_SLACK_S, tempo_at - last_emit
    assert "Last verified run seen" in tempo["message"]  # the last event is the alert's context
