"""`prefect deploy --all` of the committed prefect.yaml against a real local server: what each deployment is."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import get_client

from core.settings import Settings
from tests.deploy.conftest import EverySettingDeploy
from tests.deploy.deploy_helpers import (
    DEPLOY_DEFAULTS,
    FAKE_TOKENS,
    FIXED_ENV,
    REPO_ROOT,
    TEMPLATED_VARS,
    TOKEN_VARS,
    WORK_POOL,
    pool_deployments,
)

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
    "backfill-prune/jira-prune": {
        "tags": {"backfill", "jira", "prune"}, "cron": "30 3 * * 0", "parameters": {"source": "jira"},
    },
    "backfill-prune/tempo-prune": {
        "tags": {"backfill", "tempo", "prune"}, "cron": "30 4 * * 0", "parameters": {"source": "tempo"},
    },
    "notion-backfill/notion-sync": {"tags": {"backfill", "notion"}, "cron": "25 */3 * * *", "parameters": {}},
    "notion-backfill/notion-backfill": {
        "tags": {"backfill", "notion", "adhoc"},
        "cron": "30 2 * * 6",  # weekly full run (its schedule's parameters: full=true)
        "parameters": {"days_back": None, "since": None, "full": False, "resume": True},
    },
    "backfill-prune/notion-prune": {
        "tags": {"backfill", "notion", "prune"}, "cron": "30 5 * * 0", "parameters": {"source": "notion"},
    },
    "slack-backfill/slack-sync": {"tags": {"backfill", "slack"}, "cron": "25 */2 * * *", "parameters": {}},
    "slack-backfill/slack-backfill": {
        "tags": {"backfill", "slack", "adhoc"},
        "cron": None,
        "parameters": {
            "days_back": None, "since": None, "full": False, "channels": None, "include_archived": False,
            "thread_lookback_days": 30, "resume": True,
        },
    },
    "backfill-prune/slack-prune": {
        "tags": {"backfill", "slack", "prune"}, "cron": "30 6 * * 0", "parameters": {"source": "slack"},
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


def test_notion_runs_a_full_read_every_week(deployed: subprocess.CompletedProcess[str]) -> None:
    # Search is not exhaustive: only a full run walks the page tree and finds the pages it omits.
    [schedule] = _read("notion-backfill/notion-backfill").schedules
    assert schedule.parameters == {"full": True}


def test_only_the_coverage_deployment_lacks_the_backfill_tag(deployed: subprocess.CompletedProcess[str]) -> None:
    # The generic failure alert matches the `backfill` tag; coverage has its own alert, so it must not double-post.
    with get_client(sync_client=True) as client:
        deployments = pool_deployments(client)
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


def test_an_unset_setting_is_left_unset_in_the_run_and_the_production_defaults_apply(
    deployed: subprocess.CompletedProcess[str],
) -> None:
    # Deployed from a shell with only the required settings: each optional one is stored as null, which a worker
    # drops from the run's environment (Settings then uses its default) -- never "" (which would fail validation,
    # e.g. EMBEDDING_DIMENSIONS) nor an unresolved "{{ ... }}".
    with get_client(sync_client=True) as client:
        deployments = pool_deployments(client)
    assert len(deployments) == len(EXPECTED)
    for deployment in deployments:
        env = deployment.job_variables["env"]
        assert env["BACKFILL_HOME"] == "/tmp/backfill"
        assert env["BACKFILL_RESULTS_BLOCK"] == "s3-bucket/backfill-results"
        assert env["PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK"] == env["BACKFILL_RESULTS_BLOCK"]
        unset = set(TEMPLATED_VARS) - set(DEPLOY_DEFAULTS) - {"JIRA_URL", "JIRA_EMAIL", "PINECONE_INDEX_HOST"}
        assert {name: env.get(name, "missing") for name in unset} == dict.fromkeys(unset), deployment.name
        assert not [value for value in env.values() if isinstance(value, str) and ("{{" in value or value == "")]


def test_every_setting_in_the_deploy_environment_is_stored_tokens_excepted(
    every_setting_deployed: EverySettingDeploy, deployed: subprocess.CompletedProcess[str]
) -> None:
    # Acceptance: `prefect deploy --all` with every setting in the environment stores each in the deployments' job
    # variables, tokens excepted.
    exported = every_setting_deployed.exported
    assert sorted(every_setting_deployed.envs) == sorted(EXPECTED)
    for name, env in every_setting_deployed.envs.items():
        assert {var: env.get(var) for var in TEMPLATED_VARS} == {var: exported[var] for var in TEMPLATED_VARS}, name
        assert env["PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK"] == exported["BACKFILL_RESULTS_BLOCK"]
        # Fixed, whatever the shell says: a managed run has neither LanceDB nor the local model.
        assert {var: env[var] for var in FIXED_ENV} == FIXED_ENV
        assert "BACKFILL_NOW" not in env  # a frozen clock would make coverage report fresh forever
        assert not set(TOKEN_VARS) & set(env)
        for var in TOKEN_VARS:
            assert exported[var] not in every_setting_deployed.stored[name], f"{name} stores {var}"
    for var in TOKEN_VARS:
        assert exported[var] not in every_setting_deployed.output


def _prefect_yaml() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())


def test_prefect_yaml_templates_every_setting_and_defaults_only_the_production_ones() -> None:
    document = _prefect_yaml()
    build = document["build"]
    defaults = build[0]["builtins.dict"]
    assert build[1] == {"os:environ.copy": {}}  # the deploy-time environment wins over the defaults
    assert sorted(defaults) == TEMPLATED_VARS
    assert {name: value for name, value in defaults.items() if value is not None} == DEPLOY_DEFAULTS
    env = document["definitions"]["work_pools"]["managed"]["job_variables"]["env"]
    templated = {name: value for name, value in env.items() if name not in FIXED_ENV}
    assert templated.pop("PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK") == "{{ BACKFILL_RESULTS_BLOCK }}"
    assert templated == {name: f"{{{{ {name} }}}}" for name in TEMPLATED_VARS}
    assert {name: env[name] for name in FIXED_ENV} == FIXED_ENV
    # Tokens are never templated: not from the environment, not from Secret blocks.
    text = (REPO_ROOT / "prefect.yaml").read_text()
    active = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    assert "prefect.blocks.secret" not in active
    for var in TOKEN_VARS:
        assert not re.search(rf"\b{var}\b", active), var


def test_the_configuration_doc_says_how_each_setting_reaches_a_deployment() -> None:
    doc = (REPO_ROOT / "docs" / "CONFIGURATION.md").read_text()
    for name in sorted({field.upper() for field in Settings.model_fields} | set(TEMPLATED_VARS)):
        assert f"`{name}`" in doc, f"docs/CONFIGURATION.md does not document {name}"
    for name in [*DEPLOY_DEFAULTS.values(), *FIXED_ENV]:
        assert name in doc
