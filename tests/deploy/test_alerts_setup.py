"""`backfill alerts setup` (its Python API) against a real local server, and an alert reaching a webhook."""

from __future__ import annotations

from typing import Any

import pytest
from prefect import flow, tags
from prefect.blocks.notifications import SlackWebhook
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client

from backfill.settings import Settings
from flows.alerts import (
    COVERAGE_AUTOMATION,
    FAILURE_AUTOMATION,
    RATE_LIMITS,
    AlertSetupError,
    check_webhook_url,
    setup_alerts,
)
from tests.deploy.conftest import PrefectServer, Webhook
from tests.deploy.deploy_helpers import FAKE_TOKENS


def _automation_names() -> list[str]:
    with get_client(sync_client=True) as client:
        return sorted(a.name for a in client.read_automations())


def test_running_setup_twice_leaves_one_automation_of_each_kind(alerts_setup: dict[str, Any], webhook: Webhook) -> None:
    again = setup_alerts(Settings(**FAKE_TOKENS, slack_webhook_url=webhook.json_url, backfill_results_block=None))
    assert again["automations"] == [FAILURE_AUTOMATION, COVERAGE_AUTOMATION]
    assert _automation_names() == sorted([FAILURE_AUTOMATION, COVERAGE_AUTOMATION])


def test_setup_saves_secrets_rate_limits_and_the_results_bucket(alerts_setup: dict[str, Any]) -> None:
    from prefect_aws import S3Bucket

    assert sorted(alerts_setup["secrets"]) == [
        "jira-api-token",
        "openai-api-key",
        "pinecone-api-key",
        "tempo-api-token",
    ]
    assert Secret.load("jira-api-token").get() == FAKE_TOKENS["jira_api_token"]
    with get_client(sync_client=True) as client:
        limits = {limit.name: limit for limit in client.read_global_concurrency_limits(limit=100)}
    for name, (slots, decay) in RATE_LIMITS.items():
        assert limits[name].limit == slots
        assert limits[name].slot_decay_per_second == pytest.approx(decay)
    bucket = S3Bucket.load("backfill-results")
    assert bucket.bucket_name == "backfill-test-bucket"
    assert bucket.credentials.aws_client_parameters.endpoint_url == "http://127.0.0.1:9"
    assert "s3-bucket/backfill-results" in alerts_setup["blocks"]


def test_setup_output_never_contains_a_secret(alerts_setup: dict[str, Any]) -> None:
    text = repr(alerts_setup)
    for value in FAKE_TOKENS.values():
        assert value not in text


def test_a_plain_http_webhook_url_is_refused_because_slack_webhook_would_drop_it() -> None:
    with pytest.raises(AlertSetupError, match="json://"):
        check_webhook_url("http://127.0.0.1:8099/hook")
    check_webhook_url("https://hooks.slack.com/services/T000/B000/XXXX")
    check_webhook_url("json://127.0.0.1:8099/hook")


def test_the_alert_block_points_at_the_configured_webhook(alerts_setup: dict[str, Any], webhook: Webhook) -> None:
    assert SlackWebhook.load("backfill-alerts").url.get_secret_value() == webhook.json_url


@flow(name="ops-test-failing-flow")
def _failing_flow(project: str = "OPS") -> None:
    raise RuntimeError(f"simulated backfill failure in {project}")


def test_a_failed_backfill_tagged_run_posts_to_the_webhook(
    prefect_server: PrefectServer, alerts_setup: dict[str, Any], webhook: Webhook
) -> None:
    with tags("backfill"):
        state = _failing_flow(project="FAILME", return_state=True)
    assert state.is_failed()
    post = webhook.wait_for("ops-test-failing-flow", timeout=60)
    assert "is Failed" in post["title"]
    assert "simulated backfill failure in FAILME" in post["message"]
    assert "'project': 'FAILME'" in post["message"]
