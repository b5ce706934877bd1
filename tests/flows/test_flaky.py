"""The ``flaky`` profile (429s, 5xx, dropped connections, quotas on, on every API): runs still verify everything."""

from __future__ import annotations

from pathlib import Path

from core.settings import load_settings
from core.state import LocalStateBackend
from flows.jira import jira_backfill
from flows.notion import notion_backfill
from flows.tempo import tempo_backfill
from tests.flows.flow_helpers import exported, own_sandbox, pinecone_ids, simulator_env

# Real-service latencies are switched off to keep the suite quick; the faults and quotas stay on.
FAST = {"latency_ms": 0.0, "retry_after": 0.2}
APIS = ("jira", "tempo", "openai", "pinecone")


def test_full_jira_and_tempo_backfills_complete_under_the_flaky_profile(prefect_server: str, tmp_path: Path) -> None:
    with own_sandbox(seed=5, scale=0.05, profile="flaky", overrides={api: FAST for api in APIS}) as sb:
        env = {**sb.env, **simulator_env(sb), "BACKFILL_HOME": str(tmp_path / "home")}
        with exported(env):
            jira = jira_backfill(full=True, active_only=False)
            tempo = tempo_backfill(full=True)
            backend = LocalStateBackend(load_settings().backfill_home)
            watermarks = (backend.load("jira").watermark, backend.load("tempo").watermark)
        injected = sb.app.state.faults.injected
        issues = sb.control("jira/stats", {})["issue_ids"]
        worklogs = sb.control("tempo/stats", {})["worklog_ids"]
        jira_docs = {v.rsplit("#", 1)[0] for v in pinecone_ids(sb, "jira:")}
        tempo_docs = {v.rsplit("#", 1)[0] for v in pinecone_ids(sb, "tempo:")}

    assert jira["status"] == tempo["status"] == "verified"
    assert jira_docs == {f"jira:{i}" for i in issues}
    assert tempo_docs == {f"tempo:{i}" for i in worklogs}
    assert all(watermarks)
    assert sum(n for key, n in injected.items() if key.startswith("jira ")) > 0, "no fault was injected"


def test_full_notion_backfill_completes_under_the_flaky_profile(prefect_server: str, tmp_path: Path) -> None:
    """Notion's 429s carry an integer ``Retry-After`` (≥ 1 s) that every request honours; its quota stays on, set
    above our pacing so the injected faults, not the 3 req/s bucket, decide the test's length."""
    notion = {**FAST, "requests_per_second": 40.0, "burst": 20}
    overrides = {"notion": notion, **{api: FAST for api in ("openai", "pinecone")}}
    with own_sandbox(seed=5, scale=0.01, profile="flaky", overrides=overrides) as sb:
        env = {**sb.env, **simulator_env(sb), "NOTION_RATE_PER_S": "30", "BACKFILL_HOME": str(tmp_path / "home")}
        with exported(env):
            run = notion_backfill(full=True)
            watermark = LocalStateBackend(load_settings().backfill_home).load("notion").watermark
        injected = sb.app.state.faults.injected
        pages = set(sb.control("notion/stats", {})["page_ids"])
        docs = {v.rsplit("#", 1)[0] for v in pinecone_ids(sb, "notion:")}

    assert run["status"] == "verified" and run["failures"] == 0
    assert docs == {f"notion:{p}" for p in pages}
    assert watermark is not None
    assert sum(n for key, n in injected.items() if key.startswith("notion ")) > 0, "no fault was injected"


def test_full_slack_backfill_completes_under_the_flaky_profile(prefect_server: str, tmp_path: Path) -> None:
    from flows.slack import slack_backfill
    from tests.flows.slack_helpers import channels, expected_documents

    apis = ("slack", "openai", "pinecone")
    with own_sandbox(seed=5, scale=0.05, profile="flaky", overrides={api: FAST for api in apis}) as sb:
        env = {**sb.env, **simulator_env(sb), "BACKFILL_HOME": str(tmp_path / "home")}
        with exported(env):
            slack = slack_backfill(full=True)
            watermark = LocalStateBackend(load_settings().backfill_home).load("slack").watermark
        injected = sb.app.state.faults.injected
        sb.control("faults", {"profile": "none"})  # the oracle reads without faults
        readable = {c["id"] for c in channels(sb) if c["is_member"] and not c["is_archived"]}
        expected = set(expected_documents(sb, readable))
        docs = {v.rsplit("#", 1)[0] for v in pinecone_ids(sb, "slack:")}

    assert slack["status"] == "verified"
    assert docs == expected
    assert watermark is not None
    assert sum(n for key, n in injected.items() if key.startswith("slack ")) > 0, "no fault was injected"
