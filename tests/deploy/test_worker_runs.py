"""A real ``process`` worker runs the deployed ``jira-backfill`` against the sandbox (issue 5, acceptance 2 and 3).

The worker pulls the code the way a managed worker does (``git_clone`` of ``BACKFILL_GIT_REPO``, a ``file://`` URL of
this repository: the *committed* tree on ``main``, then the ``pip install`` pull step) and runs the flow with task
results and state on an S3 bucket (moto on loopback). Each run overrides only the job variables that the deployment
points at production (Jira URL, Pinecone host, results bucket, home); tokens come from the worker's environment, so
none is stored in a flow run. (tests/deploy/test_rehearsal.py follows docs/DEPLOYMENT.md's local rehearsal instead:
settings templated at deploy time, a local results block, a worker with nothing but the Prefect API.)

Windows are inside the sandbox's data: its clock is fixed at 2026-11-01 12:00 UTC while a run's window ends at the
real now, so ``days_back=3`` would select nothing and still complete.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment

from sandbox.server import RunningSandbox
from tests.deploy.conftest import PrefectServer, Webhook
from tests.deploy.deploy_helpers import PREFECT_BIN, WORK_POOL, save_s3_results_block
from tests.flows.flow_helpers import simulator_env

DEPLOYMENT = "jira-backfill/jira-backfill"
RUN_TIMEOUT = 240.0
SINCE = "2026-09-01"  # two months before the sandbox's clock (sandbox/server.py, RunningSandbox.data_range)


@dataclass
class Worker:
    results_block: str
    home: Path
    log: Path


@pytest.fixture(scope="module")
def worker(
    deployed: subprocess.CompletedProcess[str],
    deploy_server: PrefectServer,
    sandbox: RunningSandbox,
    moto_s3: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Worker]:
    """``prefect worker start`` on the test pool, polling every second; stopped (its process group) at the end."""
    base = tmp_path_factory.mktemp("worker")
    slug = save_s3_results_block(moto_s3, "backfill-worker-runs", "worker-runs", "backfill-results-worker")
    env = {
        **deploy_server.env,
        **sandbox.env,
        "BACKFILL_STORE": "pinecone",
        "BACKFILL_EMBEDDER": "openai",
        "EMBEDDING_DIMENSIONS": "64",
        "PREFECT_HOME": str(base / "prefect-home"),
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "2",
        # The flow-run process must find this venv's python for the `pip install` pull step …
        "PATH": f"{PREFECT_BIN.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        # … which must not replace the venv's editable install of the work tree with the clone, nor go online.
        "PIP_TARGET": str(base / "pip-target"),
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",  # pip's inverted spelling: this *disables* build isolation
        # The venv has every dependency already; a --target install would otherwise reinstall them all there.
        # What the managed install brings in is checked by test_managed_imports.py.
        "PIP_NO_DEPS": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    log = base / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(PREFECT_BIN), "worker", "start", "--pool", WORK_POOL, "--type", "process", "--limit", "1"],
            cwd=base, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            yield Worker(results_block=slug, home=base / "backfill-home", log=log)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _run_deployment(worker: Worker, sb: RunningSandbox, **parameters: Any) -> FlowRun:
    """Start a run of the deployment with the acceptance parameters and wait until it is final."""
    env = {
        "JIRA_URL": sb.env["JIRA_URL"],
        "JIRA_EMAIL": sb.env["JIRA_EMAIL"],
        "PINECONE_INDEX_HOST": sb.env["PINECONE_INDEX_HOST"],
        "BACKFILL_HOME": str(worker.home),
        "BACKFILL_RESULTS_BLOCK": worker.results_block,
        "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": worker.results_block,
    }
    created = run_deployment(DEPLOYMENT, parameters=parameters, job_variables={"env": env}, timeout=0)
    return _wait_final(created.id, worker)


def _wait_final(flow_run_id: UUID, worker: Worker) -> FlowRun:
    deadline = time.monotonic() + RUN_TIMEOUT
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(flow_run_id)
            if run.state is not None and run.state.is_final():
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"flow run {run.name} still {run.state_name}; worker log:\n{_tail(worker.log)}")
            time.sleep(0.5)


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:]


def _artifacts(flow_run_id: UUID) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )


def test_a_worker_runs_the_jira_backfill_deployment_to_completion(
    worker: Worker, fresh_sandbox: RunningSandbox
) -> None:
    simulator_env(fresh_sandbox)  # the reset undid the simulator's 64-dimension index
    run = _run_deployment(worker, fresh_sandbox, since=SINCE)

    assert run.state is not None and run.state.is_completed(), f"{run.state}\n{_tail(worker.log)}"
    assert "backfill" in run.tags and "jira" in run.tags
    assert run.parameters["since"] == SINCE
    artifacts = _artifacts(run.id)
    reports = [a for a in artifacts if a.type == "table" and a.key == "jira-run-report"]
    assert reports, [(a.type, a.key) for a in artifacts]
    (row,) = json.loads(reports[0].data)
    assert row["documents"] > 0 and row["verified"] > 0, row  # the window reached the sandbox's data
    progress = [a for a in artifacts if a.type == "progress"]
    assert progress and all(float(a.data) == 100.0 for a in progress), [(a.key, a.data) for a in progress]


def test_a_rejected_jira_token_fails_the_worker_run_and_alerts(
    worker: Worker, fresh_sandbox: RunningSandbox, alerts_setup: dict[str, Any], webhook: Webhook
) -> None:
    simulator_env(fresh_sandbox)
    fresh_sandbox.control("jira/auth", {"fail": True})
    seen = len(webhook.posts)
    run = _run_deployment(worker, fresh_sandbox, since=SINCE)

    assert run.state is not None and run.state.is_failed(), f"{run.state}\n{_tail(worker.log)}"
    post = _alert_after(webhook, seen, run.name)
    assert "jira-backfill" in post["title"] and "Failed" in post["title"]
    assert "Deployment: jira-backfill" in post["message"]
    assert "401" in post["message"]  # the state message names the rejected token's HTTP status
    for key in ("JIRA_API_TOKEN", "OPENAI_API_KEY", "PINECONE_API_KEY"):
        assert fresh_sandbox.env[key] not in repr(post)


def _alert_after(webhook: Webhook, seen: int, run_name: str, timeout: float = 60.0) -> dict[str, Any]:
    """The first alert for ``run_name`` received after the first ``seen`` POSTs (earlier tests' alerts are older)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for post in webhook.posts[seen:]:
            if f"/{run_name} is Failed" in post.get("title", ""):
                return post
        time.sleep(0.2)
    raise AssertionError(f"no alert for {run_name} within {timeout}s; got {webhook.posts[seen:]}")
