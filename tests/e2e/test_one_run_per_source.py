"""Two runs of one source at once, from two CLI processes (each would have its own Prefect view): exactly one
holds the source's state; the other waits (bounded) and then ends naming the run that holds it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from sandbox.server import RunningSandbox
from tests.e2e.cli_helpers import BACKFILL, last_json
from tests.flows.flow_helpers import counters, simulator_env


def test_a_second_run_of_the_same_source_is_refused_naming_the_first(
    prefect_server: str, fresh_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    # A first run long enough to overlap, whatever the machine's load: every Jira request takes 2.5 s, so its dozen
    # requests outlast the second CLI's start (imports, Prefect, the settings check) many times over.
    fresh_sandbox.control("faults", {"jira": {"latency_ms": 2500.0}})
    env = {
        **os.environ,
        **fresh_sandbox.env,
        **simulator_env(fresh_sandbox),
        "BACKFILL_HOME": str(tmp_path / "home"),
        "PREFECT_API_URL": prefect_server,
        "BACKFILL_LEASE_WAIT_S": "1",
    }
    first = subprocess.Popen(
        [BACKFILL, "run", "jira", "--full", "--include-archived", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not any("JQL" in key for key in counters(fresh_sandbox)):  # the first run is fetching
            assert first.poll() is None and time.monotonic() < deadline, "the first run never started fetching"
            time.sleep(0.2)
        second = subprocess.run(
            [BACKFILL, "run", "jira", "--days-back", "3", "--json"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert second.returncode != 0
        refused = last_json(second)
        assert refused["status"] == "failed"
        assert "jira is being run by run jira-full" in refused["error"], refused["error"]
        assert "BACKFILL_LEASE_WAIT_S" in refused["error"]
    finally:
        out, err = first.communicate(timeout=600)
    fresh_sandbox.control("faults", {"jira": {"latency_ms": 0.0}})
    assert first.returncode == 0, err[-3000:]
    assert last_json(subprocess.CompletedProcess([], 0, out, err))["status"] == "verified"
    # The first run's commit was not disturbed, and its lease is gone: a third run goes ahead.
    third = subprocess.run(
        [BACKFILL, "run", "jira", "--include-archived", "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert third.returncode == 0 and last_json(third)["status"] == "verified", third.stderr[-3000:]
