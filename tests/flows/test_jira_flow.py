"""The Jira flow end to end against the sandbox: complete, exactly once, minimal requests, incremental, failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import load_settings
from core.state import LocalStateBackend
from flows.jira import jira_backfill
from sandbox.server import RunningSandbox
from tests.flows.flow_helpers import (
    counters,
    exported,
    jira_requests,
    pinecone_ids,
    simulator_env,
)


def _doc_ids(sb: RunningSandbox, prefix: str = "jira:") -> list[str]:
    return sorted({vid.rsplit("#", 1)[0] for vid in pinecone_ids(sb, prefix)})


@pytest.fixture
def jira_env(backfill_env: dict[str, str], fresh_sandbox: RunningSandbox) -> dict[str, str]:
    env = simulator_env(fresh_sandbox)
    with exported(env):
        yield {**backfill_env, **env}


def test_incremental_run_ingests_exactly_the_changes_then_nothing(
    jira_env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    first = jira_backfill(full=True, active_only=False)
    assert first["status"] == "verified"
    backend = LocalStateBackend(load_settings().backfill_home)
    before = backend.load("jira").watermark

    edited = fresh_sandbox.control("jira/edit_issue", {"n": 10})["ids"]
    fresh_sandbox.control("jira/add_issue", {"n": 5})
    old = sorted(set(fresh_sandbox.control("jira/stats", {})["issue_ids"]) - set(edited))[:3]
    for issue_id in old:
        fresh_sandbox.control("jira/comment", {"key": issue_id})

    second = jira_backfill(active_only=False)
    assert second["status"] == "verified"
    assert 18 <= second["unique"] <= 18 + 3  # the changes, plus at most a few issues inside the overlap
    assert 0 < second["embedded"] < first["embedded"]
    assert second["embedded"] <= second["chunks"]  # only chunks of the fetched (changed) issues, never the rest
    after = backend.load("jira").watermark
    assert before is not None and after is not None and after > before
    assert len(_doc_ids(fresh_sandbox)) == len(fresh_sandbox.control("jira/stats", {})["issue_ids"])

    lists_before = counters(fresh_sandbox)["pinecone GET /vectors/list"]
    third = jira_backfill(active_only=False)
    assert third["status"] == "verified"
    assert (third["tokens"], third["upserted"], third["embedded"]) == (0, 0, 0)
    # Nothing changed, so coverage keeps the counts of the last listing instead of listing every id again;
    # they still match what the store holds.
    assert counters(fresh_sandbox)["pinecone GET /vectors/list"] == lists_before
    coverage = backend.load("jira").coverage
    assert coverage.vectors == len(pinecone_ids(fresh_sandbox, "jira:")) > 0
    assert coverage.documents == len(_doc_ids(fresh_sandbox))


@pytest.mark.parametrize("tz", ["America/Los_Angeles", "Australia/Brisbane"])
def test_user_time_zone_neither_skips_nor_duplicates(
    jira_env: dict[str, str], fresh_sandbox: RunningSandbox, tz: str
) -> None:
    assert jira_backfill(full=True, active_only=False)["status"] == "verified"
    fresh_sandbox.control("jira/set_timezone", {"tz": tz})
    edited = fresh_sandbox.control("jira/edit_issue", {"n": 4})["ids"]
    summary = jira_backfill(active_only=False)
    assert summary["status"] == "verified" and summary["unique"] >= len(edited)
    assert len(_doc_ids(fresh_sandbox)) == len(fresh_sandbox.control("jira/stats", {})["issue_ids"])


def test_rejected_token_fails_fast_and_keeps_the_watermark(
    jira_env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    assert jira_backfill(full=True, active_only=False)["status"] == "verified"
    backend = LocalStateBackend(load_settings().backfill_home)
    watermark = backend.load("jira").watermark
    fresh_sandbox.control("jira/auth", {"fail": True})
    before = jira_requests(counters(fresh_sandbox))
    with pytest.raises(Exception, match=r"Jira rejected JIRA_API_TOKEN for http://127\.0\.0\.1"):
        jira_backfill(active_only=False)
    assert jira_requests(counters(fresh_sandbox)) - before <= 2  # no retry storm
    assert backend.load("jira").watermark == watermark


def test_html_page_with_200_fails_naming_source_endpoint_and_partition(
    jira_env: dict[str, str], fresh_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    fresh_sandbox.control("faults", {"jira": {"html_200": 1.0, "fault_path": "/search/jql"}})
    with pytest.raises(Exception, match=r"Jira POST /rest/api/3/search/jql.*HTML page.*partition jira:ENG,OPE:"):
        jira_backfill(days_back=100, active_only=False)
    assert LocalStateBackend(load_settings().backfill_home).load("jira").watermark is None
