"""Flow tests run against one real Prefect server per session (``prefect_test_harness``: temp DB, loopback).

``prefect_server`` yields the API URL; subprocess tests pass it as ``PREFECT_API_URL`` so every CLI invocation
talks to the same server instead of starting a temporary one (13 s each).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness

from sandbox.server import RunningSandbox


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with prefect_test_harness(server_startup_timeout=60):
        yield str(PREFECT_API_URL.value())


@pytest.fixture
def backfill_env(
    prefect_server: str, fresh_sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The sandbox's environment plus a private BACKFILL_HOME, exported for in-process flows and subprocesses."""
    env = {
        **fresh_sandbox.env,
        "BACKFILL_HOME": str(tmp_path / "home"),
        "PREFECT_API_URL": prefect_server,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
