"""Fixtures for the operations tests: one real Prefect server for the session, plus a local webhook receiver.

- ``deploy_server`` (session): ``prefect server start`` on a free port with its own PREFECT_HOME; this process
  talks to it through ``temporary_settings`` (PREFECT_API_URL); ``deploy_server.env`` is the environment for
  ``prefect`` subprocesses.
- ``webhook`` (session): a tiny ``http.server`` on 127.0.0.1 recording every POST body; ``webhook.json_url`` is the
  apprise ``json://`` URL a SlackWebhook block can post to (plain ``http://`` URLs are ignored by SlackWebhook).
- ``alerts_setup`` (session): ``setup_alerts`` run once with fake tokens and that webhook; its result.
- ``every_setting_deployed`` (session): ``prefect deploy --all`` with every setting (and every token) in the
  environment, each set to a distinctive value; what each deployment's job-variable env then held.
- ``deployed`` (session): ``prefect deploy --all`` of the committed prefect.yaml to a ``process`` pool, with only the
  required settings in the environment (after ``every_setting_deployed``, which it replaces).
- ``moto_s3`` (session): an S3 endpoint on 127.0.0.1 (moto's threaded server); its ``http://`` URL.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings

from core.settings import Settings
from tests.deploy.deploy_helpers import (
    FAKE_TOKENS,
    FIXED_ENV,
    PREFECT_BIN,
    REPO_ROOT,
    TEMPLATED_VARS,
    TOKEN_VARS,
    WORK_POOL,
    deploy_all,
    free_port,
    pool_deployments,
)


@dataclass
class PrefectServer:
    api_url: str
    env: dict[str, str]


@contextmanager
def running_prefect_server(home: Path, port: int | None = None) -> Iterator[PrefectServer]:
    """``prefect server start`` on 127.0.0.1 (a free port unless given) with its own PREFECT_HOME; stopped after."""
    port = port or free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [str(PREFECT_BIN), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_healthy(api_url, proc, home / "server.log")
        yield PrefectServer(api_url=api_url, env={**env, "PREFECT_API_URL": api_url})
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def deploy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    with ExitStack() as stack:
        server = stack.enter_context(running_prefect_server(tmp_path_factory.mktemp("prefect-home")))
        stack.enter_context(
            temporary_settings(updates={PREFECT_API_URL: server.api_url, PREFECT_SERVER_ANALYTICS_ENABLED: False})
        )
        yield server


def _wait_healthy(api_url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"prefect server not healthy after {timeout}s:\n{log.read_text()[-3000:]}")


@dataclass
class Webhook:
    port: int
    posts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def json_url(self) -> str:
        return f"json://127.0.0.1:{self.port}/slack-hook"

    def wait_for(self, needle: str, timeout: float = 60.0) -> dict[str, Any]:
        """The first POST whose title or message contains ``needle``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for post in list(self.posts):
                if needle in post.get("title", "") or needle in post.get("message", ""):
                    return post
            time.sleep(0.2)
        raise AssertionError(f"no webhook POST containing {needle!r} within {timeout}s; got {self.posts}")


@pytest.fixture(scope="session")
def webhook() -> Iterator[Webhook]:
    received = Webhook(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                received.posts.append(json.loads(body))
            except ValueError:
                received.posts.append({"raw": body.decode(errors="replace")})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    received.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield received
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def alerts_setup(deploy_server: PrefectServer, webhook: Webhook) -> dict[str, Any]:
    from flows.alerts import setup_alerts

    settings = Settings(**FAKE_TOKENS, slack_webhook_url=webhook.json_url, backfill_results_block=None)
    s3_env = {
        "BACKFILL_S3_BUCKET": "backfill-test-bucket",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    return setup_alerts(settings, env=s3_env)


def _required_deploy_env(deploy_server: PrefectServer) -> dict[str, str]:
    """The deploy-time environment docs/DEPLOYMENT.md requires, and nothing else (no optional setting, no token)."""
    env = {
        **deploy_server.env,
        "BACKFILL_WORK_POOL": WORK_POOL,
        "BACKFILL_GIT_REPO": REPO_ROOT.as_uri(),
        "JIRA_URL": "https://acme.atlassian.net",
        "JIRA_EMAIL": "ops@example.com",
        "PINECONE_INDEX_HOST": "backfill-abc123.svc.pinecone.io",
    }
    for name in {*TEMPLATED_VARS, *TOKEN_VARS, *FIXED_ENV, "BACKFILL_NOW"} - set(env):
        env.pop(name, None)  # whatever the shell running the tests exported must not leak into the deployments
    return env


@dataclass
class EverySettingDeploy:
    """``prefect deploy --all`` with every setting exported: the values exported and what each deployment kept."""

    exported: dict[str, str]
    envs: dict[str, dict[str, Any]]  # "flow/deployment" -> job_variables["env"]
    stored: dict[str, str]  # "flow/deployment" -> the whole deployment as JSON
    output: str


@pytest.fixture(scope="session")
def every_setting_deployed(deploy_server: PrefectServer, alerts_setup: dict[str, Any]) -> EverySettingDeploy:
    """Deploy with every setting and token set to a distinctive value, and read back each deployment."""
    from prefect.client.orchestration import get_client

    exported = {name: f"every-{name.lower().replace('_', '-')}" for name in TEMPLATED_VARS}
    exported |= {name: f"token-{name.lower()}-not-real" for name in TOKEN_VARS}
    # Fixed or never deployed: a developer's shell may hold these; the deployments must not pick them up.
    exported |= {"BACKFILL_STORE": "lancedb", "BACKFILL_EMBEDDER": "local", "BACKFILL_NOW": "2020-01-01T00:00:00Z"}
    env = {**_required_deploy_env(deploy_server), **exported}
    _create_pool(env)
    result = deploy_all(env)
    with get_client(sync_client=True) as client:
        deployments = pool_deployments(client)
        flows = {flow.id: flow.name for flow in client.read_flows()}
    return EverySettingDeploy(
        exported=exported,
        envs={f"{flows[d.flow_id]}/{d.name}": dict(d.job_variables["env"]) for d in deployments},
        stored={f"{flows[d.flow_id]}/{d.name}": d.model_dump_json() for d in deployments},
        output=result.stdout + result.stderr,
    )


@pytest.fixture(scope="session")
def deployed(
    deploy_server: PrefectServer, alerts_setup: dict[str, Any], every_setting_deployed: EverySettingDeploy
) -> subprocess.CompletedProcess[str]:
    """Every deployment of the committed prefect.yaml, deployed to a process pool (Secret blocks already exist)
    from an environment with only the required settings; replaces ``every_setting_deployed``'s deployments."""
    env = _required_deploy_env(deploy_server)
    _create_pool(env)
    return deploy_all(env)


def _create_pool(env: dict[str, str]) -> None:
    subprocess.run(
        [str(PREFECT_BIN), "work-pool", "create", WORK_POOL, "--type", "process", "--overwrite"],
        env=env, check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """An S3-compatible endpoint on loopback, standing in for the managed workers' results bucket."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
