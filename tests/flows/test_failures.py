"""A record that cannot be fetched is kept as a failure: the rest lands, the watermark moves, the run ends Failed
naming it, and the next run fetches it again first."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.settings import load_settings
from core.state import LocalStateBackend
from flows.jira import jira_backfill
from flows.pipeline import FailuresRecorded
from sandbox.server import RunningSandbox
from tests.flows.flow_helpers import exported, pinecone_ids, simulator_env

BIG_ISSUE = "10007"  # the corpus gives this issue > 100 comments, so its comments are paged separately


@pytest.fixture
def jira_env(backfill_env: dict[str, str], fresh_sandbox: RunningSandbox) -> Iterator[dict[str, str]]:
    env = simulator_env(fresh_sandbox)
    with exported(env):
        yield {**backfill_env, **env}


def test_failed_record_is_reported_kept_and_retried_first(
    jira_env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    fresh_sandbox.control("faults", {"jira": {"html_200": 1.0, "fault_path": f"/issue/{BIG_ISSUE}/comment"}})
    with pytest.raises(FailuresRecorded, match=f"jira: 1 record\\(s\\) could not be mapped: jira:{BIG_ISSUE}"):
        jira_backfill(full=True, active_only=False)
    backend = LocalStateBackend(load_settings().backfill_home)
    state = backend.load("jira")
    assert [f.id for f in state.failures] == [f"jira:{BIG_ISSUE}"]
    assert state.watermark is not None  # everything else landed and was verified
    stored = {v.rsplit("#", 1)[0] for v in pinecone_ids(fresh_sandbox, "jira:")}
    every = {f"jira:{i}" for i in fresh_sandbox.control("jira/stats", {})["issue_ids"]}
    assert stored == every - {f"jira:{BIG_ISSUE}"}

    fresh_sandbox.control("faults", {"jira": {"html_200": 0.0, "fault_path": None}})
    summary = jira_backfill(active_only=False)  # incremental: the old issue is outside its window
    assert summary["status"] == "verified"
    assert backend.load("jira").failures == []
    assert f"jira:{BIG_ISSUE}" in {v.rsplit("#", 1)[0] for v in pinecone_ids(fresh_sandbox, "jira:")}
