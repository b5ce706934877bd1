"""`backfill alerts setup`: everything a workspace needs besides deployments, created idempotently.

Creates or updates, from the environment:

- the S3 results bucket block (prefect-aws ``S3Bucket`` + ``AwsCredentials``) named by ``BACKFILL_RESULTS_BLOCK``
  (task results *and* source state; managed workers lose their disk);
- one Secret block per token that is set (``jira-api-token``, ``tempo-api-token``, ``openai-api-key``, …), which
  flows load into their environment at run time (flows/secret_env.py);
- the ``backfill-alerts`` SlackWebhook block from ``SLACK_WEBHOOK_URL``;
- one global concurrency limit per source API (``jira-api``, ``tempo-api``, …) with slot decay, i.e. a rate limit
  shared by every flow run in the workspace;
- two automations, replaced by name so running setup twice leaves exactly one of each: any ``backfill``-tagged
  flow run Failed/Crashed/TimedOut → Slack, and the coverage flow failing (stale sources) → Slack.

Automations are made with the Python SDK, not ``prefect automation create --from-file``: the file is not templated
(the block id would be a literal UUID) and a second create duplicates (docs/DEPLOYMENT.md, Prefect facts F10).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from prefect.automations import Automation
from prefect.blocks.notifications import SlackWebhook
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import EventTrigger, Posture

from backfill.settings import Settings
from flows.coverage import COVERAGE_FLOW_NAME

__all__ = [
    "ALERT_BLOCK_NAME",
    "COVERAGE_AUTOMATION",
    "FAILURE_AUTOMATION",
    "RATE_LIMITS",
    "SECRET_BLOCKS",
    "AlertSetupError",
    "check_webhook_url",
    "setup_alerts",
]

ALERT_BLOCK_NAME = "backfill-alerts"
AWS_CREDENTIALS_BLOCK_NAME = "backfill-aws"
DEFAULT_RESULTS_BLOCK = "s3-bucket/backfill-results"
FAILURE_AUTOMATION = "backfill-run-failed"
COVERAGE_AUTOMATION = "backfill-coverage-stale"

# Secret block name → the Settings field (= env var) it is filled from. prefect.yaml references the blocks by name.
SECRET_BLOCKS: dict[str, str] = {
    "jira-api-token": "jira_api_token",
    "tempo-api-token": "tempo_api_token",
    "slack-bot-token": "slack_bot_token",
    "notion-token": "notion_token",
    "github-token": "github_token",
    "fireflies-api-key": "fireflies_api_key",
    "openai-api-key": "openai_api_key",
    "pinecone-api-key": "pinecone_api_key",
}

# name → (slots, slot decay per second): a shared rate of `decay` requests/s with bursts up to `slots`.
# Figures from the vendors' guidance (docs/SOURCES.md): Jira API-token traffic is burst-limited only (we stay at
# 10/s); Tempo asks for ≤ 5/s; Notion averages 3/s; Slack's tier-3 methods ~50/min; GitHub 5,000/h; Fireflies
# Business 60/min.
RATE_LIMITS: dict[str, tuple[int, float]] = {
    "jira-api": (10, 10.0),
    "tempo-api": (5, 5.0),
    "notion-api": (3, 3.0),
    "slack-api": (1, 0.8),
    "github-api": (5, 1.3),
    "fireflies-api": (1, 1.0),
}

_TRIGGER_STATES = {"prefect.flow-run.Failed", "prefect.flow-run.Crashed", "prefect.flow-run.TimedOut"}

_FAILURE_SUBJECT = "Backfill {{ flow.name }}/{{ flow_run.name }} is {{ flow_run.state.name }}"
_FAILURE_BODY = """\
Flow run {{ flow.name }}/{{ flow_run.name }} entered {{ flow_run.state.name }}.
Deployment: {{ deployment.name }}  Tags: {{ flow_run.tags }}
Parameters: {{ flow_run.parameters }}
Message: {{ flow_run.state.message }}
URL: {{ flow_run|ui_url }}
What to do: docs/RUNBOOK.md, section "A backfill run failed"."""

_COVERAGE_SUBJECT = "Backfill coverage: stale source(s) ({{ flow_run.state.name }})"
_COVERAGE_BODY = """\
The coverage check {{ flow_run.name }} ended {{ flow_run.state.name }}.
{{ flow_run.state.message }}
URL: {{ flow_run|ui_url }}
What to do: docs/RUNBOOK.md, section "A source is stale"."""


class AlertSetupError(ValueError):
    """The alert configuration is unusable (e.g. a webhook URL SlackWebhook would silently ignore)."""


def setup_alerts(settings: Settings, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Create or update blocks, secrets, rate limits and automations. Safe to run any number of times.

    Returns what was done (names only, never a secret value) with a note for each part that was skipped.
    """
    env = os.environ if env is None else env
    done: dict[str, Any] = {"blocks": [], "secrets": [], "rate_limits": [], "automations": [], "notes": []}
    _setup_results_bucket(settings, env, done)
    _setup_secrets(settings, done)
    _setup_rate_limits(done)
    block_id = _setup_alert_block(settings, done)
    if block_id is None:
        done["notes"].append("SLACK_WEBHOOK_URL is not set and no 'backfill-alerts' block exists: no automations")
    else:
        _replace_automation(_failure_automation(block_id))
        _replace_automation(_coverage_automation(block_id))
        done["automations"] += [FAILURE_AUTOMATION, COVERAGE_AUTOMATION]
    return done


def _setup_results_bucket(settings: Settings, env: Mapping[str, str], done: dict[str, Any]) -> None:
    """The S3 bucket block behind BACKFILL_RESULTS_BLOCK, from BACKFILL_S3_BUCKET and the standard AWS_* vars."""
    bucket = env.get("BACKFILL_S3_BUCKET")
    slug = settings.backfill_results_block or DEFAULT_RESULTS_BLOCK
    block_type, _, block_name = slug.partition("/")
    if not bucket:
        done["notes"].append("BACKFILL_S3_BUCKET is not set: no results bucket block (runs keep results locally)")
        return
    if block_type != "s3-bucket":
        done["notes"].append(f"BACKFILL_RESULTS_BLOCK={slug} is not an s3-bucket block: left as it is")
        return
    from prefect_aws import AwsCredentials, S3Bucket  # imported here: only this step needs prefect-aws

    client_parameters: dict[str, Any] = {}
    if env.get("AWS_ENDPOINT_URL"):  # S3-compatible stores (MinIO, moto) and tests
        client_parameters["endpoint_url"] = env["AWS_ENDPOINT_URL"]
    credentials = AwsCredentials(
        # No keys = the default AWS chain (workload identity on managed workers): nothing static to leak.
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        aws_client_parameters=client_parameters,
    )
    credentials.save(AWS_CREDENTIALS_BLOCK_NAME, overwrite=True)
    S3Bucket(bucket_name=bucket, bucket_folder=env.get("BACKFILL_S3_FOLDER", "backfill"), credentials=credentials).save(
        block_name, overwrite=True
    )
    done["blocks"] += [f"aws-credentials/{AWS_CREDENTIALS_BLOCK_NAME}", slug]


def _setup_secrets(settings: Settings, done: dict[str, Any]) -> None:
    """One Secret block per token that is set; unset ones are left alone (never overwritten with nothing)."""
    for block_name, field in SECRET_BLOCKS.items():
        value = getattr(settings, field)
        if value is None:
            continue
        Secret(value=value.get_secret_value()).save(block_name, overwrite=True)
        done["secrets"].append(block_name)
    missing = [f.upper() for f in SECRET_BLOCKS.values() if getattr(settings, f) is None]
    if missing:
        done["notes"].append("not set, no Secret block written: " + ", ".join(missing))


def _setup_rate_limits(done: dict[str, Any]) -> None:
    with get_client(sync_client=True) as client:
        for name, (slots, decay) in RATE_LIMITS.items():
            client.upsert_global_concurrency_limit_by_name(name, slots, slot_decay_per_second=decay)
            done["rate_limits"].append(name)


def _setup_alert_block(settings: Settings, done: dict[str, Any]) -> UUID | None:
    """Save the SlackWebhook block from SLACK_WEBHOOK_URL; else reuse a saved one. Returns its document id."""
    if settings.slack_webhook_url is None:
        try:
            return SlackWebhook.load(ALERT_BLOCK_NAME)._block_document_id
        except ValueError:
            return None
    url = settings.slack_webhook_url.get_secret_value()
    check_webhook_url(url)
    block = SlackWebhook(url=url)
    block_id = block.save(ALERT_BLOCK_NAME, overwrite=True)
    done["blocks"].append(f"slack-webhook/{ALERT_BLOCK_NAME}")
    return block_id


def check_webhook_url(url: str) -> None:
    """Refuse URLs SlackWebhook would silently drop: apprise only posts plain http(s) URLs to Slack's own hosts.

    For a local receiver use apprise's generic JSON scheme, ``json://127.0.0.1:8099/hook`` (docs/DEPLOYMENT.md, F11).
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme in {"http", "https"} and not host.startswith(("hooks.slack.com", "hooks.slack-gov.com")):
        raise AlertSetupError(
            "SLACK_WEBHOOK_URL: SlackWebhook sends nothing to a non-Slack http(s) URL; use "
            "https://hooks.slack.com/services/... or, for a local receiver, json://host:port/path"
        )


def _failure_automation(block_id: UUID) -> Automation:
    """Any flow run tagged ``backfill`` that ends Failed, Crashed or TimedOut → one Slack message per run."""
    return Automation(
        name=FAILURE_AUTOMATION,
        description="A backfill flow run failed, crashed or timed out.",
        enabled=True,
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.backfill"},
            expect=_TRIGGER_STATES,
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[SendNotification(block_document_id=block_id, subject=_FAILURE_SUBJECT, body=_FAILURE_BODY)],
    )


def _coverage_automation(block_id: UUID) -> Automation:
    """The coverage flow failing (it fails when a source is stale) → Slack, with the stale sources in the message."""
    return Automation(
        name=COVERAGE_AUTOMATION,
        description="A source's last verified run is older than its freshness threshold.",
        enabled=True,
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": COVERAGE_FLOW_NAME},
            expect=_TRIGGER_STATES,
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[SendNotification(block_document_id=block_id, subject=_COVERAGE_SUBJECT, body=_COVERAGE_BODY)],
    )


def _replace_automation(automation: Automation) -> None:
    """Delete every automation with this name, then create it: idempotent, and picks up changed definitions."""
    with get_client(sync_client=True) as client:
        for existing in client.read_automations_by_name(automation.name):
            client.delete_automation(existing.id)
    automation.create()
