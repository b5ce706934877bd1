"""`backfill alerts setup` (its Python API) against a real local server, and an alert reaching a webhook."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect import flow, tags
from prefect.blocks.notifications import SlackWebhook
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.events.schemas.automations import Posture

from core.settings import Settings
from flows.alerts import (
    COVERAGE_AUTOMATION,
    FAILURE_AUTOMATION,
    AlertSetupError,
    check_webhook_url,
    setup_alerts,
    stale_automation_name,
)
from flows.pipeline import VERIFIED_EVENT
from sandbox.server import RunningSandbox
from tests.deploy.conftest import PrefectServer, Webhook
from tests.deploy.deploy_helpers import FAKE_TOKENS
from tests.flows.flow_helpers import simulator_env

EXPECTED_AUTOMATIONS = [
    FAILURE_AUTOMATION, COVERAGE_AUTOMATION, "backfill-stale-jira", "backfill-stale-tempo", "backfill-stale-notion",
    "backfill-stale-slack",
]  # fmt: skip


def _setup(webhook_url: str, **env: str) -> dict[str, Any]:
    settings = Settings(**FAKE_TOKENS, slack_webhook_url=webhook_url, backfill_results_block=None)
    return setup_alerts(settings, env=env)


def _automations() -> dict[str, list[Any]]:
    with get_client(sync_client=True) as client:
        found: dict[str, list[Any]] = {}
        for automation in client.read_automations():
            found.setdefault(automation.name, []).append(automation)
        return found


@pytest.fixture
def restore_defaults(alerts_setup: dict[str, Any], webhook: Webhook) -> Iterator[None]:
    """Put the session's automations back on the default thresholds after a test that changed them."""
    yield
    _setup(webhook.json_url)


def test_running_setup_twice_keeps_every_automation_and_its_id(alerts_setup: dict[str, Any], webhook: Webhook) -> None:
    first = _setup(webhook.json_url)
    again = _setup(webhook.json_url)
    assert again["automations"] == EXPECTED_AUTOMATIONS
    assert again["automation_ids"] == first["automation_ids"] == alerts_setup["automation_ids"]
    assert set(again["automation_changes"].values()) == {"unchanged"}  # nothing rewritten, no window restarted
    found = _automations()
    assert sorted(found) == sorted(EXPECTED_AUTOMATIONS)
    assert {name: str(items[0].id) for name, items in found.items()} == again["automation_ids"]
    assert all(len(items) == 1 for items in found.values())


def test_a_changed_threshold_updates_the_automation_in_place(
    alerts_setup: dict[str, Any], webhook: Webhook, restore_defaults: None
) -> None:
    before = alerts_setup["automation_ids"]
    changed = _setup(webhook.json_url, BACKFILL_FRESHNESS_JIRA_HOURS="5")
    assert changed["automation_ids"] == before  # same ids: the UI keeps each automation's history
    assert changed["automation_changes"]["backfill-stale-jira"] == "updated"
    assert changed["automation_changes"]["backfill-stale-tempo"] == "unchanged"
    [jira] = _automations()["backfill-stale-jira"]
    assert jira.trigger.within == timedelta(hours=5)
    assert "within 5h" in jira.actions[0].subject


def test_each_source_has_a_proactive_automation_on_its_freshness_threshold(alerts_setup: dict[str, Any]) -> None:
    found = _automations()
    for source in ("jira", "tempo", "notion", "slack"):
        [automation] = found[stale_automation_name(source)]
        trigger = automation.trigger
        assert trigger.posture == Posture.Proactive
        assert trigger.match.model_dump() == {"prefect.resource.id": f"backfill.source.{source}"}
        assert trigger.expect == {VERIFIED_EVENT} and trigger.after == {VERIFIED_EVENT}  # a sliding window
        assert not trigger.for_each  # one bucket, opened by Prefect itself: a source that never reports alerts
        assert trigger.threshold == 1 and trigger.within == timedelta(hours=26)
        [action] = automation.actions
        assert action.type == "send-notification"
        assert action.block_document_id == SlackWebhook.load("backfill-alerts")._block_document_id
        assert f"Backfill {source}: no verified run within 26h" == action.subject
        assert f"BACKFILL_FRESHNESS_{source.upper()}_HOURS" in action.body


def test_setup_creates_no_concurrency_limits(alerts_setup: dict[str, Any], webhook: Webhook) -> None:
    def limits() -> set[str]:
        with get_client(sync_client=True) as client:
            return {limit.name for limit in client.read_global_concurrency_limits(limit=200)}

    before = limits()
    _setup(webhook.json_url)
    assert limits() == before
    # The only limits are the ones `prefect deploy` makes for each deployment's concurrency_limit (if deployed).
    assert {name for name in before if not name.startswith("deployment:")} == set()
    assert "rate_limits" not in alerts_setup


def test_setup_saves_secrets_and_the_results_bucket(alerts_setup: dict[str, Any]) -> None:
    from prefect_aws import S3Bucket

    assert sorted(alerts_setup["secrets"]) == [
        "jira-api-token",
        "openai-api-key",
        "pinecone-api-key",
        "tempo-api-token",
    ]
    assert Secret.load("jira-api-token").get() == FAKE_TOKENS["jira_api_token"]
    bucket = S3Bucket.load("backfill-results")
    assert bucket.bucket_name == "backfill-test-bucket"
    assert bucket.credentials.aws_client_parameters.endpoint_url == "http://127.0.0.1:9"
    assert "s3-bucket/backfill-results" in alerts_setup["blocks"]


def test_setup_output_never_contains_a_secret(alerts_setup: dict[str, Any]) -> None:
    text = repr(alerts_setup)
    for value in FAKE_TOKENS.values():
        assert value not in text


def _snapshot() -> dict[str, Any]:
    """What setup could write: every block document, the values setup owns, every automation's definition."""
    from prefect_aws import S3Bucket

    with get_client(sync_client=True) as client:
        documents = sorted(str(doc.id) for doc in client.read_block_documents())
        automations = sorted(
            (str(a.id), a.model_dump_json(exclude={"id"})) for a in client.read_automations()
        )  # fmt: skip
    return {
        "documents": documents,
        "secret": Secret.load("jira-api-token").get(),
        "webhook": SlackWebhook.load("backfill-alerts").url.get_secret_value(),
        "bucket": S3Bucket.load("backfill-results").bucket_name,
        "automations": automations,
    }


def test_a_bad_webhook_url_fails_setup_before_anything_is_written(alerts_setup: dict[str, Any]) -> None:
    before = _snapshot()
    bad_url = "http://127.0.0.1:8099/hook-with-a-secret-path"  # SlackWebhook would silently drop it
    settings = Settings(
        **{name: f"{value}-rotated" for name, value in FAKE_TOKENS.items()},
        slack_bot_token="xoxb-new-token",  # a Secret block that does not exist yet
        slack_webhook_url=bad_url,
        backfill_results_block=None,
    )
    env = {"BACKFILL_S3_BUCKET": "another-bucket", "BACKFILL_FRESHNESS_JIRA_HOURS": "3"}
    with pytest.raises(AlertSetupError, match="SLACK_WEBHOOK_URL") as raised:
        setup_alerts(settings, env=env)
    assert "nothing was written" in str(raised.value)
    assert bad_url not in str(raised.value)  # a webhook URL is a credential
    assert _snapshot() == before


def test_every_bad_setting_is_named_at_once_and_nothing_is_written(
    alerts_setup: dict[str, Any], webhook: Webhook
) -> None:
    before = _snapshot()
    env = {
        "BACKFILL_FRESHNESS_JIRA_HOURS": "soon",
        "BACKFILL_FRESHNESS_TEMPO_HOURS": "0.001",  # 3.6 s: under Prefect's 10 s minimum for a proactive window
        "BACKFILL_S3_BUCKET": "Not_A_Bucket",
        "AWS_ACCESS_KEY_ID": "only-half-of-a-key-pair",
    }
    with pytest.raises(AlertSetupError) as raised:
        _setup(webhook.json_url, **env)
    message = str(raised.value)
    for variable in (
        "BACKFILL_FRESHNESS_JIRA_HOURS",
        "BACKFILL_FRESHNESS_TEMPO_HOURS",
        "BACKFILL_S3_BUCKET",
        "AWS_SECRET_ACCESS_KEY",
    ):
        assert variable in message
    with pytest.raises(AlertSetupError, match="BACKFILL_SOURCES: unknown source"):
        _setup(webhook.json_url, BACKFILL_SOURCES="jira,jria")
    assert _snapshot() == before


def test_webhook_urls_are_checked_the_way_slack_webhook_sends() -> None:
    with pytest.raises(AlertSetupError, match="json://"):
        check_webhook_url("http://127.0.0.1:8099/hook")
    for bad in ("https://example.com/hook", "https://hooks.slack.com/services/incomplete", "not a url", ""):
        with pytest.raises(AlertSetupError, match="SLACK_WEBHOOK_URL"):
            check_webhook_url(bad)
    check_webhook_url("https://hooks.slack.com/services/T000/B000/XXXX")
    check_webhook_url("json://127.0.0.1:8099/hook")  # apprise's generic JSON: what the tests post to


def test_the_alert_block_points_at_the_configured_webhook(alerts_setup: dict[str, Any], webhook: Webhook) -> None:
    assert SlackWebhook.load("backfill-alerts").url.get_secret_value() == webhook.json_url


@flow(name="ops-test-failing-flow")
def _failing_flow(project: str = "OPS") -> None:
    raise RuntimeError(f"simulated backfill failure in {project}")


def test_a_failed_backfill_tagged_run_posts_to_the_webhook(
    deploy_server: PrefectServer, alerts_setup: dict[str, Any], webhook: Webhook
) -> None:
    with tags("backfill"):
        state = _failing_flow(project="FAILME", return_state=True)
    assert state.is_failed()
    post = webhook.wait_for("ops-test-failing-flow", timeout=60)
    assert "is Failed" in post["title"]
    assert "simulated backfill failure in FAILME" in post["message"]
    assert "'project': 'FAILME'" in post["message"]
    assert "CONFIGURATION" not in post["message"]  # the crash hint is for Crashed runs only
    assert 'section "A backfill run failed"' in post["message"]


def test_a_refused_prune_fails_its_run_and_the_alert_names_the_reason(
    deploy_server: PrefectServer,
    alerts_setup: dict[str, Any],
    webhook: Webhook,
    fresh_sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.prune import prune

    env = {**fresh_sandbox.env, **simulator_env(fresh_sandbox), "BACKFILL_HOME": str(tmp_path / "home")}
    for key, value in {**env, "BACKFILL_HTTP_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(key, value)
    fresh_sandbox.control("jira/auth", {"fail": True})
    try:
        with tags("backfill", "jira", "prune"):  # what the jira-prune deployment gives its runs
            state = prune(source="jira", return_state=True)
    finally:
        fresh_sandbox.control("jira/auth", {"fail": False})
    assert state.is_failed()
    post = webhook.wait_for("backfill-prune", timeout=60)
    assert "is Failed" in post["title"]
    assert "prune refused: the listing failed" in post["message"]
