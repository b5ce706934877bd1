"""What the failure alert says, rendered by the local Prefect server from the automation's templates.

A run that dies before its flow starts (a missing block, a bad setting) ends Crashed with only "Process exited with
status code: 1" and a random run name. The alert must carry that message, name the deployment, and say that such a
crash is configuration, not memory.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import uuid4

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.states import Crashed, Failed, Pending

from tests.deploy.conftest import Webhook

CRASH_MESSAGE = "Process exited with status code: 1"


@flow(name="ops-test-crash-flow")
def _never_runs() -> None:  # only its name is used: the run is driven through states by the client
    raise AssertionError("not meant to run")


def _deployment_run(deployment: str) -> FlowRun:
    """A flow run of a (pool-less) deployment, tagged ``backfill`` as the real deployments' runs are."""
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow(_never_runs)
        deployment_id = client.create_deployment(flow_id=flow_id, name=deployment, tags=["backfill"])
        return client.create_flow_run_from_deployment(deployment_id, tags=["backfill"])


def _post_for(webhook: Webhook, seen: int, run_name: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for post in webhook.posts[seen:]:
            if f"/{run_name} is " in post.get("title", ""):
                return post
        time.sleep(0.2)
    raise AssertionError(f"no alert for {run_name} within {timeout}s; got {webhook.posts[seen:]}")


def test_a_run_that_crashes_before_its_flow_starts_is_reported_as_configuration(
    alerts_setup: dict[str, Any], webhook: Webhook
) -> None:
    deployment = f"crash-sync-{uuid4().hex[:6]}"
    run = _deployment_run(deployment)
    seen = len(webhook.posts)
    with get_client(sync_client=True) as client:
        # What a worker reports when the process exits during start-up: Pending → Crashed, never Running.
        client.set_flow_run_state(run.id, Pending(), force=True)
        client.set_flow_run_state(run.id, Crashed(message=CRASH_MESSAGE), force=True)

    post = _post_for(webhook, seen, run.name)
    assert post["title"] == f"Backfill ops-test-crash-flow/{run.name} is Crashed (deployment {deployment})"
    message = post["message"]
    assert f"Message: {CRASH_MESSAGE}" in message
    assert f"Deployment: {deployment}" in message
    assert "CONFIGURATION" in message and "missing Secret block" in message and "S3 block" in message
    assert "logs" in message
    assert 'docs/RUNBOOK.md, section "Crashed"' in message


def test_a_failed_deployment_run_names_its_deployment_and_no_crash_hint(
    alerts_setup: dict[str, Any], webhook: Webhook
) -> None:
    deployment = f"failed-sync-{uuid4().hex[:6]}"
    run = _deployment_run(deployment)
    seen = len(webhook.posts)
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run.id, Failed(message="jira: 3 record(s) could not be mapped"), force=True)

    post = _post_for(webhook, seen, run.name)
    assert post["title"] == f"Backfill ops-test-crash-flow/{run.name} is Failed (deployment {deployment})"
    assert "Message: jira: 3 record(s) could not be mapped" in post["message"]
    assert "CONFIGURATION" not in post["message"]
