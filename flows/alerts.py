"""`backfill alerts setup`: everything a workspace needs besides deployments. Validates everything, then writes.

From the environment it creates or updates:

- the S3 results bucket block (prefect-aws ``S3Bucket`` + ``AwsCredentials``) named by ``BACKFILL_RESULTS_BLOCK``
  (task results *and* source state; managed workers lose their disk);
- one Secret block per token that is set (``jira-api-token``, ``tempo-api-token``, ``openai-api-key``, …), which
  flows load into their environment at run time (flows/secret_env.py);
- the ``backfill-alerts`` SlackWebhook block from ``SLACK_WEBHOOK_URL``;
- the automations of flows/alerts_automations.py: a backfill run Failed/Crashed/TimedOut, the coverage flow
  failing, and one proactive "no verified run within the freshness threshold" per source, updated in place.

**Nothing is written until everything is valid**: the webhook URL (one apprise accepts, which is what SlackWebhook
sends with), the freshness thresholds and sources, the bucket settings and the tokens. A bad value fails the whole
setup with every problem named by its variable, and the workspace stays as it was.

No rate limits: a workspace-wide limit only throttles code that asks for a slot, and none does. Pacing is
client-side per process; the one-run-per-source lease and per-deployment concurrency limits bound how many
processes call an API at once (docs/DEPLOYMENT.md, section 4).

Automations are made with the Python SDK, not ``prefect automation create --from-file``: the file is not templated
(the block id would be a literal UUID) and a second create duplicates (docs/DEPLOYMENT.md, Prefect facts F10).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from prefect.blocks.core import Block
from prefect.blocks.notifications import SlackWebhook
from prefect.blocks.system import Secret
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.exceptions import ObjectNotFound

from connectors.registry import SOURCES as KNOWN_SOURCES
from connectors.registry import freshness_defaults, secret_env_blocks
from core.freshness import FreshnessError, expected_sources, threshold_for
from core.settings import Settings
from flows.alerts_automations import (
    COVERAGE_AUTOMATION,
    FAILURE_AUTOMATION,
    MIN_PROACTIVE_WITHIN,
    STALE_AUTOMATION_PREFIX,
    coverage_automation,
    failure_automation,
    stale_automation,
    stale_automation_name,
    upsert_automation,
)

__all__ = [
    "ALERT_BLOCK_NAME",
    "COVERAGE_AUTOMATION",
    "FAILURE_AUTOMATION",
    "SECRET_BLOCKS",
    "STALE_AUTOMATION_PREFIX",
    "AlertSetupError",
    "check_webhook_url",
    "setup_alerts",
    "stale_automation_name",
]

ALERT_BLOCK_NAME = "backfill-alerts"
AWS_CREDENTIALS_BLOCK_NAME = "backfill-aws"
DEFAULT_RESULTS_BLOCK = "s3-bucket/backfill-results"

# Secret block name → the Settings field (= env var) it is filled from: every registered source's tokens and the
# services' (connectors/registry.py), the same blocks flows load at run time (flows/secret_env.py).
SECRET_BLOCKS: dict[str, str] = {block: variable.lower() for variable, block in secret_env_blocks().items()}

# S3's naming rules (3-63 characters; lower-case letters, digits, dots, hyphens; a letter or digit at each end).
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class AlertSetupError(ValueError):
    """The setup configuration is unusable; the message names every bad variable. Nothing was written."""


@dataclass
class _Plan:
    """Everything setup will write, built and validated before the first write."""

    results_bucket: tuple[Block, Block, str] | None = None  # (AwsCredentials, S3Bucket, slug)
    secrets: dict[str, str] = field(default_factory=dict)
    webhook_url: str | None = None  # None: reuse the saved block (existing_block_id) or make no automations
    existing_block_id: UUID | None = None
    thresholds: dict[str, timedelta] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def setup_alerts(settings: Settings, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Validate the configuration, then create or update blocks, secrets and automations. Safe to rerun.

    Raises ``AlertSetupError`` naming every bad variable before anything is written. Returns what was done (names
    and automation ids only, never a secret value) with a note for each part that was skipped.
    """
    env = os.environ if env is None else env
    plan = _validate(settings, env)
    done: dict[str, Any] = {
        "blocks": [],
        "secrets": [],
        "automations": [],
        "automation_ids": {},
        "automation_changes": {},
        "notes": plan.notes,
    }
    _write_results_bucket(plan, done)
    for block_name, value in plan.secrets.items():
        Secret(value=value).save(block_name, overwrite=True)
        done["secrets"].append(block_name)
    block_id = plan.existing_block_id
    if plan.webhook_url is not None:
        block_id = SlackWebhook(url=plan.webhook_url).save(ALERT_BLOCK_NAME, overwrite=True)
        done["blocks"].append(f"slack-webhook/{ALERT_BLOCK_NAME}")
    if block_id is None:
        plan.notes.append("SLACK_WEBHOOK_URL is not set and no 'backfill-alerts' block exists: no automations")
        return done
    automations = [failure_automation(block_id), coverage_automation(block_id)]
    automations += [stale_automation(source, within, block_id) for source, within in plan.thresholds.items()]
    with get_client(sync_client=True) as client:
        for automation in automations:
            automation_id, change = upsert_automation(client, automation)
            done["automations"].append(automation.name)
            done["automation_ids"][automation.name] = str(automation_id)
            done["automation_changes"][automation.name] = change
        _note_orphaned_stale_automations(client, plan)
    return done


# --- validation: reads only ------------------------------------------------------------------------------------


def _validate(settings: Settings, env: Mapping[str, str]) -> _Plan:
    plan = _Plan()
    problems: list[str] = []
    for check in (_plan_webhook, _plan_thresholds, _plan_secrets, _plan_results_bucket):
        try:
            check(settings, env, plan)
        except AlertSetupError as exc:
            problems.append(str(exc))
    if problems:
        raise AlertSetupError("nothing was written: " + "; ".join(problems))
    return plan


def _plan_webhook(settings: Settings, env: Mapping[str, str], plan: _Plan) -> None:
    if settings.slack_webhook_url is not None:
        plan.webhook_url = settings.slack_webhook_url.get_secret_value()
        check_webhook_url(plan.webhook_url)
        return
    try:
        plan.existing_block_id = SlackWebhook.load(ALERT_BLOCK_NAME)._block_document_id
    except ValueError:
        plan.existing_block_id = None


def check_webhook_url(url: str) -> None:
    """Refuse a URL SlackWebhook would silently drop: it posts through apprise, which ignores URLs it cannot parse.

    Accepted: Slack's own ``https://hooks.slack.com/services/T…/B…/…`` and any other apprise URL, such as the
    generic JSON scheme for a local receiver, ``json://127.0.0.1:8099/hook`` (docs/DEPLOYMENT.md, F11). The URL is
    never echoed: it is a secret.
    """
    from apprise import Apprise

    with _quiet_apprise():  # apprise logs a refused URL in full, and a webhook URL is a credential
        accepted = bool(url.strip()) and Apprise().add(url)
    if accepted:
        return
    parts = urlsplit(url)
    if parts.scheme in {"http", "https"}:
        hint = "SlackWebhook sends nothing to a plain http(s) URL unless it is a Slack webhook"
    else:
        hint = "not a URL apprise (which SlackWebhook uses) can send to"
    raise AlertSetupError(
        f"SLACK_WEBHOOK_URL: {hint}; use https://hooks.slack.com/services/T.../B.../... or, for a local receiver, "
        "json://host:port/path"
    )


@contextmanager
def _quiet_apprise() -> Iterator[None]:
    logger = logging.getLogger("apprise")
    disabled = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = disabled


def _plan_thresholds(settings: Settings, env: Mapping[str, str], plan: _Plan) -> None:
    """Each expected source's freshness threshold: the ``within`` of its proactive automation."""
    defaults = freshness_defaults()
    sources = expected_sources(env, defaults)
    unknown = [s for s in sources if s not in KNOWN_SOURCES]
    if unknown:
        raise AlertSetupError(
            f"BACKFILL_SOURCES: unknown source(s) {', '.join(unknown)}; known: {', '.join(KNOWN_SOURCES)}"
        )
    problems: list[str] = []
    for source in sources:
        try:
            within = threshold_for(source, env, defaults[source])
        except FreshnessError as exc:
            problems.append(str(exc))
            continue
        if within < MIN_PROACTIVE_WITHIN:
            problems.append(
                f"BACKFILL_FRESHNESS_{source.upper()}_HOURS: at least {MIN_PROACTIVE_WITHIN.total_seconds():g} s "
                f"({MIN_PROACTIVE_WITHIN.total_seconds() / 3600:.4f} h), Prefect's shortest proactive window"
            )
            continue
        plan.thresholds[source] = within
    if problems:
        raise AlertSetupError("; ".join(problems))


def _plan_secrets(settings: Settings, env: Mapping[str, str], plan: _Plan) -> None:
    """One Secret block per token that is set; unset ones are left alone (never overwritten with nothing)."""
    empty: list[str] = []
    for block_name, name in SECRET_BLOCKS.items():
        value = getattr(settings, name)
        if value is None:
            continue
        if not value.get_secret_value().strip():
            empty.append(name.upper())
            continue
        plan.secrets[block_name] = value.get_secret_value()
    if empty:
        raise AlertSetupError(f"set but empty (unset them, or give the token): {', '.join(empty)}")
    missing = [f.upper() for f in SECRET_BLOCKS.values() if getattr(settings, f) is None]
    if missing:
        plan.notes.append("not set, no Secret block written: " + ", ".join(missing))


def _plan_results_bucket(settings: Settings, env: Mapping[str, str], plan: _Plan) -> None:
    """The S3 bucket block behind BACKFILL_RESULTS_BLOCK, from BACKFILL_S3_BUCKET and the standard AWS_* vars."""
    bucket = env.get("BACKFILL_S3_BUCKET")
    slug = settings.backfill_results_block or DEFAULT_RESULTS_BLOCK
    if not bucket:
        if _block_exists(slug):
            plan.notes.append(f"BACKFILL_S3_BUCKET is not set: the {slug} block is left as it is")
        else:
            plan.notes.append(
                f"BACKFILL_S3_BUCKET is not set and no {slug} block exists: managed runs, which keep results and "
                "state there, will crash at start until it does"
            )
        return
    problems: list[str] = []
    if not _BUCKET_NAME.match(bucket) or ".." in bucket:
        problems.append(f"BACKFILL_S3_BUCKET: not a valid S3 bucket name: {bucket!r}")
    if not slug.startswith("s3-bucket/"):
        problems.append(
            f"BACKFILL_RESULTS_BLOCK: must be an s3-bucket/<name> block when BACKFILL_S3_BUCKET is set, got {slug!r}"
        )
    endpoint = env.get("AWS_ENDPOINT_URL")
    if endpoint and (urlsplit(endpoint).scheme not in {"http", "https"} or not urlsplit(endpoint).hostname):
        problems.append(f"AWS_ENDPOINT_URL: not an http(s) URL: {endpoint!r}")
    key_id, secret_key = env.get("AWS_ACCESS_KEY_ID") or None, env.get("AWS_SECRET_ACCESS_KEY") or None
    if (key_id is None) != (secret_key is None):
        problems.append(
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: set both (static keys) or neither (the default chain)"
        )
    if problems:
        raise AlertSetupError("; ".join(problems))
    from prefect_aws import AwsCredentials, S3Bucket  # imported here: only this step needs prefect-aws

    client_parameters: dict[str, Any] = {"endpoint_url": endpoint} if endpoint else {}  # MinIO, moto, tests
    try:
        credentials = AwsCredentials(
            # No keys = the default AWS chain (workload identity on managed workers): nothing static to leak.
            aws_access_key_id=key_id,
            aws_secret_access_key=secret_key,
            region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            aws_client_parameters=client_parameters,
        )
        s3_bucket = S3Bucket(
            bucket_name=bucket, bucket_folder=env.get("BACKFILL_S3_FOLDER", "backfill"), credentials=credentials
        )
    except ValueError as exc:  # pydantic's ValidationError; it never echoes the keys (SecretStr)
        raise AlertSetupError(f"BACKFILL_S3_*/AWS_*: {exc}") from None
    plan.results_bucket = (credentials, s3_bucket, slug)


def _block_exists(slug: str) -> bool:
    block_type, _, name = slug.partition("/")
    with get_client(sync_client=True) as client:
        try:
            client.read_block_document_by_name(name=name, block_type_slug=block_type)
        except ObjectNotFound:  # no such block, or a block type this workspace has never registered
            return False
    return True


# --- writes -----------------------------------------------------------------------------------------------------


def _write_results_bucket(plan: _Plan, done: dict[str, Any]) -> None:
    if plan.results_bucket is None:
        return
    credentials, s3_bucket, slug = plan.results_bucket
    credentials.save(AWS_CREDENTIALS_BLOCK_NAME, overwrite=True)
    s3_bucket.save(slug.partition("/")[2], overwrite=True)
    done["blocks"] += [f"aws-credentials/{AWS_CREDENTIALS_BLOCK_NAME}", slug]


def _note_orphaned_stale_automations(client: SyncPrefectClient, plan: _Plan) -> None:
    """A ``backfill-stale-*`` automation for a source no longer expected is reported, never deleted (its history)."""
    names = {a.name for a in client.read_automations()}
    orphans = sorted(
        n
        for n in names
        if n.startswith(STALE_AUTOMATION_PREFIX) and n.removeprefix(STALE_AUTOMATION_PREFIX) not in plan.thresholds
    )
    if orphans:
        plan.notes.append(
            "left as they are (their source is not in BACKFILL_SOURCES; delete them if it was retired): "
            + ", ".join(orphans)
        )
