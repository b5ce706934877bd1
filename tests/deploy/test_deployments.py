"""`prefect deploy --all` of the committed prefect.yaml against a real local server: what each deployment is."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from prefect.client.orchestration import get_client

from tests.deploy.deploy_helpers import FAKE_TOKENS, REPO_ROOT, WORK_POOL

EXPECTED = {
    "jira-backfill/jira-sync": {"tags": {"backfill", "jira"}, "cron": "15 */2 * * *", "parameters": {}},
    "jira-backfill/jira-backfill": {
        "tags": {"backfill", "jira", "adhoc"},
        "cron": None,
        "parameters": {
            "days_back": None, "since": None, "full": False, "projects": None, "active_only": True, "resume": True,
        },
    },
    "tempo-backfill/tempo-sync": {"tags": {"backfill", "tempo"}, "cron": "45 */4 * * *", "parameters": {}},
    "tempo-backfill/tempo-backfill": {
        "tags": {"backfill", "tempo", "adhoc"},
        "cron": None,
        "parameters": {"days_back": None, "since": None, "full": False, "resume": True},
    },
    "backfill-coverage/coverage": {"tags": {"backfill-ops", "coverage"}, "cron": "5 * * * *", "parameters": {}},
}  # fmt: skip


def _read(name: str) -> Any:
    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(name)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_deployment_has_its_schedule_parameters_and_tags(deployed: subprocess.CompletedProcess[str], name: str) -> None:
    want = EXPECTED[name]
    deployment = _read(name)
    assert set(deployment.tags) == want["tags"]
    assert deployment.parameters == want["parameters"]
    assert deployment.work_pool_name == WORK_POOL
    crons = [(s.schedule.cron, s.schedule.timezone, s.active) for s in deployment.schedules]
    assert crons == ([(want["cron"], "UTC", True)] if want["cron"] else [])


def test_only_the_coverage_deployment_lacks_the_backfill_tag(deployed: subprocess.CompletedProcess[str]) -> None:
    # The generic failure alert matches the `backfill` tag; coverage has its own alert, so it must not double-post.
    with get_client(sync_client=True) as client:
        deployments = client.read_deployments()
    untagged = sorted(d.name for d in deployments if "backfill" not in d.tags)
    assert untagged == ["coverage"]
    assert len(deployments) == len(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_one_run_per_deployment_at_a_time(deployed: subprocess.CompletedProcess[str], name: str) -> None:
    deployment = _read(name)
    assert deployment.global_concurrency_limit is not None
    assert deployment.global_concurrency_limit.limit == 1
    strategy = "CANCEL_NEW" if name.endswith("/coverage") else "ENQUEUE"
    assert deployment.concurrency_options.collision_strategy == strategy


def test_backfill_deployments_enforce_their_parameter_schema(deployed: subprocess.CompletedProcess[str]) -> None:
    for name in ("jira-backfill/jira-backfill", "tempo-backfill/tempo-backfill"):
        deployment = _read(name)
        assert deployment.enforce_parameter_schema is True
        assert {"days_back", "since", "full", "resume"} <= set(deployment.parameter_openapi_schema["properties"])


def test_job_variables_and_pull_steps_target_the_managed_runtime(deployed: subprocess.CompletedProcess[str]) -> None:
    deployment = _read("jira-backfill/jira-sync")
    env = deployment.job_variables["env"]
    assert env["BACKFILL_RESULTS_BLOCK"] == "s3-bucket/backfill-results"
    assert env["BACKFILL_STORE"] == "pinecone"
    assert env["BACKFILL_EMBEDDER"] == "openai"
    assert env["PREFECT_RESULTS_PERSIST_BY_DEFAULT"] == "false"
    assert env["JIRA_URL"] == "https://acme.atlassian.net"
    # No token is stored in the deployment, although the Secret blocks existed at deploy time: flows load them at
    # run time (flows/secret_env.py; docs/DEPLOYMENT.md, "Secrets").
    assert "JIRA_API_TOKEN" not in env
    assert FAKE_TOKENS["jira_api_token"] not in deployment.model_dump_json()
    # Dependencies come from pyproject.toml through the install pull step, not from a copy in job_variables.
    assert "pip_packages" not in deployment.job_variables
    assert deployment.job_variables["image"].startswith("prefecthq/prefect:3.9.")
    clone = deployment.pull_steps[0]["prefect.deployments.steps.git_clone"]
    assert clone["repository"] == REPO_ROOT.as_uri()
    assert clone["branch"] == "main"
    install = deployment.pull_steps[1]["prefect.deployments.steps.run_shell_script"]
    assert "{{ clone.directory }}" in install["script"]  # resolved on the worker, after the clone
    assert "--no-deps" not in install["script"]  # the clone's core dependencies are installed with it
