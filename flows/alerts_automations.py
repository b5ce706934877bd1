"""The alert automations: their definitions, their Slack texts, and an update-in-place upsert.

Three kinds, all sending to the ``backfill-alerts`` SlackWebhook block:

- ``backfill-run-failed``: any ``backfill``-tagged flow run ends Failed, Crashed or TimedOut (reactive).
- ``backfill-coverage-stale``: the ``backfill-coverage`` flow fails, naming the stale sources (reactive).
- ``backfill-stale-<source>``, one per source: **proactive**. Prefect expects the pipeline's
  ``backfill.source.verified`` event for ``backfill.source.<source>`` within the source's freshness threshold and
  fires when it does not come. Prefect evaluates this itself, so a paused pool, a stuck concurrency slot or an
  exhausted quota, which stop the coverage flow too, cannot silence it.

The proactive trigger has the verified event as both ``after`` and ``expect``, which makes its window slide: each
verified event starts a new window of ``threshold`` (Prefect's heartbeat pattern), so the alert fires exactly one
threshold after the last verified run, and again every threshold while nothing comes (measured on a local server:
18 s threshold → alert 22 s after the last event; proactive triggers are evaluated every 5 s). Without ``after`` the
windows would be fixed back-to-back periods, and by Prefect 3.9's trigger code (not measured) a satisfied window is
followed by a full window with none open, so the alert could come two to three thresholds late. A source that has
never been verified gets its first window when the automation is loaded, so it alerts one threshold after setup.

``upsert_automation`` finds an automation by name and updates it in place (``PUT``), so its id, and with it its
history in the UI, survives every rerun of ``backfill alerts setup``. An unchanged definition is not written at all:
an update gives the trigger a new id on the server, which restarts a proactive window.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

from flows.coverage import COVERAGE_FLOW_NAME
from flows.pipeline import VERIFIED_EVENT

__all__ = [
    "COVERAGE_AUTOMATION",
    "FAILURE_AUTOMATION",
    "MIN_PROACTIVE_WITHIN",
    "STALE_AUTOMATION_PREFIX",
    "Change",
    "coverage_automation",
    "failure_automation",
    "stale_automation",
    "stale_automation_name",
    "upsert_automation",
]

FAILURE_AUTOMATION = "backfill-run-failed"
COVERAGE_AUTOMATION = "backfill-coverage-stale"
STALE_AUTOMATION_PREFIX = "backfill-stale-"
# Prefect refuses a proactive trigger whose `within` is shorter (EventTrigger validation, Prefect 3.9).
MIN_PROACTIVE_WITHIN = timedelta(seconds=10)

Change = Literal["created", "updated", "unchanged"]

_TRIGGER_STATES = {"prefect.flow-run.Failed", "prefect.flow-run.Crashed", "prefect.flow-run.TimedOut"}

# A run that dies before its flow starts (a missing block, a bad setting, a failed pull step) has a random name
# and the state message "Process exited with status code: 1": the deployment and the hint below say what it is.
_FAILURE_SUBJECT = (
    "Backfill {{ flow.name }}/{{ flow_run.name }} is {{ flow_run.state.name }}"
    "{% if deployment %} (deployment {{ deployment.name }}){% endif %}"
)
_FAILURE_BODY = """\
Flow run {{ flow.name }}/{{ flow_run.name }} entered {{ flow_run.state.name }}.
Deployment: {{ deployment.name }}  Tags: {{ flow_run.tags }}
Parameters: {{ flow_run.parameters }}
Message: {{ flow_run.state.message }}
Started: {{ flow_run.start_time }}  Ended: {{ flow_run.end_time }}  Ran for: {{ flow_run.total_run_time }}
{% if flow_run.state.name == "Crashed" %}\
A Crashed run that ended within seconds of its start (or never started) is almost always CONFIGURATION, not \
memory: a missing Secret block (jira-api-token, ...) or S3 block (s3-bucket/backfill-results), a bad setting, or a \
failed pull/install step. The run's logs show the error; fix it, rerun `backfill alerts setup` if a block is missing, \
then rerun the flow. A crash after a long run is memory or the infrastructure.
{% endif %}\
URL: {{ flow_run|ui_url }}
What to do: docs/RUNBOOK.md, section "{% if flow_run.state.name == "Crashed" %}Crashed\
{% else %}A backfill run failed{% endif %}"."""

_COVERAGE_SUBJECT = "Backfill coverage: stale source(s) ({{ flow_run.state.name }})"
_COVERAGE_BODY = """\
The coverage check {{ flow_run.name }} ended {{ flow_run.state.name }}.
{{ flow_run.state.message }}
URL: {{ flow_run|ui_url }}
What to do: docs/RUNBOOK.md, section "A source is stale"."""

_STALE_SUBJECT = "Backfill {source}: no verified run within {threshold}"
_STALE_BODY = """\
{source} has not been verified for {threshold} ({variable}): no `{event}` event for \
backfill.source.{source} in that time.
Prefect evaluates this itself, so it fires even when the work pool is paused, out of quota, or a run is stuck.
{{% if event %}}Last verified run seen: {{{{ event.occurred }}}} (watermark {{{{ event.payload.watermark }}}}).
{{% endif %}}\
What to do: docs/RUNBOOK.md, section "A source is stale"."""


def failure_automation(block_id: UUID) -> AutomationCore:
    """Any flow run tagged ``backfill`` that ends Failed, Crashed or TimedOut → one Slack message per run."""
    return AutomationCore(
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


def coverage_automation(block_id: UUID) -> AutomationCore:
    """The coverage flow failing (it fails when a source is stale) → Slack, with the stale sources in the message."""
    return AutomationCore(
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


def stale_automation_name(source: str) -> str:
    return f"{STALE_AUTOMATION_PREFIX}{source}"


def stale_automation(source: str, threshold: timedelta, block_id: UUID) -> AutomationCore:
    """No ``backfill.source.verified`` for ``source`` within ``threshold`` → Slack naming the source and threshold.

    No ``for_each``: the trigger has one bucket, which Prefect opens by itself, so a source that never emits the
    event alerts too (a ``for_each`` bucket would only open on a first event).
    """
    if threshold < MIN_PROACTIVE_WITHIN:
        raise ValueError(f"{source}: a proactive window must be at least {MIN_PROACTIVE_WITHIN}, got {threshold}")
    shown = _hours(threshold)
    texts = {
        "source": source,
        "threshold": shown,
        "variable": f"BACKFILL_FRESHNESS_{source.upper()}_HOURS",
        "event": VERIFIED_EVENT,
    }
    return AutomationCore(
        name=stale_automation_name(source),
        description=f"{source}: no verified run within {shown} (evaluated by Prefect, independent of work pools).",
        enabled=True,
        trigger=EventTrigger(
            match={"prefect.resource.id": f"backfill.source.{source}"},
            after={VERIFIED_EVENT},
            expect={VERIFIED_EVENT},
            posture=Posture.Proactive,
            threshold=1,
            within=threshold,
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject=_STALE_SUBJECT.format(**texts),
                body=_STALE_BODY.format(**texts),
            )
        ],
    )


def upsert_automation(client: SyncPrefectClient, automation: AutomationCore) -> tuple[UUID, Change]:
    """Create ``automation``, or update the one of that name in place, keeping its id. Never delete-then-create.

    An existing automation whose definition already matches is left untouched (see the module docstring). Should
    the workspace hold several of that name (``prefect automation create`` run twice), the oldest-updated one is
    kept and updated, and the others are deleted: two would send every alert twice.
    """
    existing = client.read_automations_by_name(automation.name)  # newest update first
    if not existing:
        return client.create_automation(automation), "created"
    keep, duplicates = existing[-1], existing[:-1]
    for duplicate in duplicates:
        client.delete_automation(duplicate.id)
    if _definition(keep) == _definition(automation):
        return keep.id, "unchanged"
    client.update_automation(keep.id, automation)
    return keep.id, "updated"


def _definition(automation: AutomationCore) -> dict[str, Any]:
    """What an automation does, comparable between a local definition and one read back from the server."""
    data = automation.model_dump(mode="json", include=set(AutomationCore.model_fields))
    trigger = data["trigger"]
    for key in ("after", "expect", "for_each"):  # sets: the order of the JSON list means nothing
        trigger[key] = sorted(trigger.get(key) or [])
    trigger.pop("id", None)
    return data


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g}h" if hours >= 0.1 else f"{hours:g}h ({delta.total_seconds():g}s)"
