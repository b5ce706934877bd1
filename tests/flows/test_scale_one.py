"""The predecessor's headline workload at ``--scale 1`` (72 projects, 7,556 issues over 730 days, ~12k worklogs):
every item in the store exactly once, verified, with requests within 10% of the minimum the page limits allow."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import load_settings
from core.state import LocalStateBackend
from flows.jira import jira_backfill
from flows.tempo import tempo_backfill
from sandbox.server import RunningSandbox
from tests.flows.flow_helpers import (
    counters,
    exported,
    jira_requests,
    minimum_jira_requests,
    own_sandbox,
    pinecone_ids,
    simulator_env,
)


def _doc_ids(sb: RunningSandbox, prefix: str) -> list[str]:
    return sorted({vid.rsplit("#", 1)[0] for vid in pinecone_ids(sb, prefix)})


@pytest.fixture(scope="module")
def scale_one() -> Iterator[RunningSandbox]:
    """The predecessor's headline workload: 72 projects, 7,556 issues over 730 days."""
    with own_sandbox(seed=7, scale=1.0, profile="none") as sb:
        yield sb


def test_full_backfill_at_scale_1_is_complete_exactly_once_and_near_minimal(
    prefect_server: str, scale_one: RunningSandbox, tmp_path: Path
) -> None:
    stats = scale_one.control("jira/stats", {})
    assert (stats["projects"], stats["issues"]) == (72, 7556)
    env = {**scale_one.env, **simulator_env(scale_one), "BACKFILL_HOME": str(tmp_path / "home")}
    with exported(env):
        summary = jira_backfill(full=True, active_only=False)
        state = LocalStateBackend(load_settings().backfill_home).load("jira")

    assert summary["status"] == "verified"
    assert summary["verified"] == summary["upserted"] == summary["embedded"] == summary["chunks"] > 0
    assert _doc_ids(scale_one, "jira:") == sorted(f"jira:{i}" for i in stats["issue_ids"])
    seen = counters(scale_one)
    assert not [key for key in seen if "startAt" in key], "a search/jql request carried startAt"
    # +2: the auth check (/myself) and the one probe for the oldest issue of a full run.
    assert jira_requests(seen) <= 1.1 * minimum_jira_requests(stats) + 2
    # the run's own account of its requests matches what the sandbox received
    assert sum(n for key, n in summary["requests"].items() if key.startswith("jira ")) == jira_requests(seen)
    assert state.watermark is not None and state.coverage.documents == stats["issues"]
    assert state.coverage.vectors == summary["chunks"]


def test_full_tempo_backfill_at_scale_1_resolves_every_key_with_near_minimal_requests(
    prefect_server: str, scale_one: RunningSandbox, tmp_path: Path
) -> None:
    stats = scale_one.control("tempo/stats", {})
    before = counters(scale_one)
    env = {**scale_one.env, **simulator_env(scale_one), "BACKFILL_HOME": str(tmp_path / "home")}
    with exported(env):
        summary = tempo_backfill(full=True)
    seen = counters(scale_one) - before

    assert summary["status"] == "verified"
    assert _doc_ids(scale_one, "tempo:") == sorted(f"tempo:{i}" for i in stats["worklog_ids"])
    made = seen["tempo GET /4/worklogs"] + seen["jira POST /rest/api/3/issue/bulkfetch"]
    minimum = math.ceil(stats["worklogs"] / 5000) + math.ceil(len(stats["issue_ids"]) / 100)
    assert made <= 1.1 * minimum + 1  # +1: the auth check
