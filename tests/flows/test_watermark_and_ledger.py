"""The shared pipeline's silent-loss paths: the watermark model, the failure ledger, full means full, spool sweep.

Each test reproduces a way a run used to end "verified" while the index missed data.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.settings import load_settings
from core.state import LocalStateBackend
from flows.jira import jira_backfill
from flows.pipeline import FailuresRecorded
from flows.tempo import tempo_backfill
from sandbox.server import RunningSandbox
from tests.flows.flow_helpers import counters, exported, jql_windows, pinecone_ids, simulator_env


@pytest.fixture
def env(backfill_env: dict[str, str], fresh_sandbox: RunningSandbox) -> Iterator[dict[str, str]]:
    extra = simulator_env(fresh_sandbox)
    with exported(extra):
        yield {**backfill_env, **extra}


def _adf(text: str) -> dict[str, Any]:
    paragraph = {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    return {"type": "doc", "version": 1, "content": [paragraph]}


def _stored_text(sb: RunningSandbox, doc_id: str) -> str:
    from pinecone import Pinecone

    index = Pinecone(api_key=sb.env["PINECONE_API_KEY"]).Index(host=sb.env["PINECONE_INDEX_HOST"])
    ids = pinecone_ids(sb, f"{doc_id}#")
    if not ids:
        return ""
    fetched = index.fetch(ids=ids, namespace=sb.env["PINECONE_NAMESPACE"])
    return "\n".join(str(v.metadata["text"]) for v in fetched.vectors.values())


def _state(source: str) -> Any:
    return LocalStateBackend(load_settings().backfill_home).load(source)


def test_an_ad_hoc_window_that_leaves_a_gap_does_not_move_the_watermark(
    env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    assert jira_backfill(full=True, active_only=False)["status"] == "verified"
    watermark = _state("jira").watermark
    ids = fresh_sandbox.control("jira/stats", {})["issue_ids"]
    old_issue, new_issue = f"jira:{ids[2]}", f"jira:{ids[4]}"
    # An edit shortly after the full sync, then (20 days on) another one.
    fresh_sandbox.control("clock", {"advance_seconds": 3600})
    fresh_sandbox.control("jira/comment", {"key": ids[2], "body": _adf("OLDEDIT-marker")})
    fresh_sandbox.control("clock", {"set": (datetime.now(UTC) - timedelta(days=2)).isoformat()})
    fresh_sandbox.control("jira/comment", {"key": ids[4], "body": _adf("NEWEDIT-marker")})

    adhoc = jira_backfill(days_back=14, active_only=False)
    assert adhoc["status"] == "verified" and not adhoc["watermark_moved"]
    assert "gap" in adhoc["watermark_note"]
    assert "NEWEDIT-marker" in _stored_text(fresh_sandbox, new_issue)
    assert "OLDEDIT-marker" not in _stored_text(fresh_sandbox, old_issue)  # outside the ad-hoc window
    assert _state("jira").watermark == watermark

    scheduled = jira_backfill(active_only=False)  # what the cron runs next: from the untouched watermark
    assert scheduled["status"] == "verified" and scheduled["watermark_moved"]
    assert "OLDEDIT-marker" in _stored_text(fresh_sandbox, old_issue)
    assert _state("jira").watermark > watermark


def test_a_run_filtered_to_one_project_does_not_move_the_watermark(
    env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    assert jira_backfill(full=True, active_only=False)["status"] == "verified"
    watermark = _state("jira").watermark
    fresh_sandbox.control("clock", {"advance_seconds": 3600})
    fresh_sandbox.control("jira/edit_issue", {"n": 3})
    project = _project_keys(fresh_sandbox)[0]
    filtered = jira_backfill(active_only=False, projects=[project])
    assert filtered["status"] == "verified" and not filtered["watermark_moved"]
    assert "filtered" in _state("jira").watermark_note
    assert _state("jira").watermark == watermark  # the other projects' edits are still ahead of it


def _project_keys(sb: RunningSandbox) -> list[str]:
    import httpx

    r = httpx.get(
        f"{sb.env['JIRA_URL']}/rest/api/3/project/search",
        auth=(sb.env["JIRA_EMAIL"], sb.env["JIRA_API_TOKEN"]),
        params={"maxResults": 100},
    )
    return sorted(p["key"] for p in r.json()["values"] if not p.get("archived"))


def test_a_failed_worklog_is_reread_until_ingested(env: dict[str, str], fresh_sandbox: RunningSandbox) -> None:
    stats = fresh_sandbox.control("tempo/stats", {})
    broken = stats["worklog_ids"][3]
    fresh_sandbox.control("tempo/break_worklog", {"id": broken})
    with pytest.raises(FailuresRecorded, match=f"tempo:{broken}"):
        tempo_backfill(full=True)
    ledger = _state("tempo").failures
    assert [f.id for f in ledger] == [f"tempo:{broken}"] and ledger[0].window_start is not None
    assert _state("tempo").watermark is not None  # everything else landed

    # Another failing run keeps it (attempts counted) — the ledger is not replaced by each run's failures.
    with pytest.raises(FailuresRecorded):
        tempo_backfill()
    assert [(f.id, f.attempts) for f in _state("tempo").failures] == [(f"tempo:{broken}", 2)]

    # Repaired at the source without a new updatedAt: an incremental window alone would never see it again.
    fresh_sandbox.control("tempo/break_worklog", {"id": broken, "broken": False})
    third = tempo_backfill()
    assert third["status"] == "verified" and third["failures_resolved"] == 1
    assert _state("tempo").failures == []
    assert pinecone_ids(fresh_sandbox, f"tempo:{broken}#")


def test_a_failed_issue_deleted_at_the_source_leaves_the_ledger(
    env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    big = "10007"  # its comments are paged separately: a fault on that path fails this issue alone
    fresh_sandbox.control("faults", {"jira": {"html_200": 1.0, "fault_path": f"/issue/{big}/comment"}})
    with pytest.raises(FailuresRecorded, match=f"jira:{big}"):
        jira_backfill(full=True, active_only=False)
    fresh_sandbox.control("faults", {"jira": {"html_200": 0.0, "fault_path": None}})
    fresh_sandbox.control("jira/delete_issue", {"key": big})
    summary = jira_backfill(active_only=False)
    assert summary["status"] == "verified" and summary["failures_gone"] == 1
    assert _state("jira").failures == []


def test_a_fresh_full_run_refetches_everything_only_a_resumed_run_reuses_partitions(
    env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    assert jira_backfill(full=True, active_only=False)["status"] == "verified"
    first = jql_windows(counters(fresh_sandbox))
    before = counters(fresh_sandbox)
    again = jira_backfill(full=True, active_only=False)  # resume=True, but nothing crashed: a new run
    assert again["status"] == "verified"
    after = counters(fresh_sandbox)
    # Every closed half-year slice was queried again, not served from the fetch cache. (Of the first run's
    # queries only the open slice, which ended at that run's "now", and the oldest-issue probe do not recur.)
    reread = [w for w in first if after[f"jira JQL {w}"] > before[f"jira JQL {w}"]]
    assert len(first) >= 4 and len(reread) >= len(first) - 2, (first, reread)


def test_spool_files_left_by_a_killed_run_are_swept(env: dict[str, str], fresh_sandbox: RunningSandbox) -> None:
    spool = load_settings().backfill_home.resolve() / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    leftover = spool / "tempo-killed123.jsonl"
    leftover.write_text('{"id": "tempo:1"}\n')
    other = spool / "jira-running.jsonl"
    other.write_text("{}\n")
    assert tempo_backfill(full=True)["status"] == "verified"
    assert not leftover.exists() and other.exists()  # another source's spool is that source's business


def test_restricted_comments_stay_out_of_the_index_and_are_counted(
    env: dict[str, str], fresh_sandbox: RunningSandbox
) -> None:
    ids = fresh_sandbox.control("jira/stats", {})["issue_ids"]
    fresh_sandbox.control(
        "jira/comment",
        {"key": ids[1], "body": _adf("ROLE-ONLY-secret"), "visibility": {"type": "role", "value": "Administrators"}},
    )
    fresh_sandbox.control("jira/comment", {"key": ids[1], "body": _adf("JSM-internal-note"), "jsdPublic": False})
    fresh_sandbox.control("jira/comment", {"key": ids[1], "body": _adf("PUBLIC-visible")})
    fresh_sandbox.control("jira/set_security", {"key": ids[1], "level": "Staff"})
    summary = jira_backfill(full=True, active_only=False)
    assert summary["status"] == "verified" and summary["withheld"] >= 2
    text = _stored_text(fresh_sandbox, f"jira:{ids[1]}")
    assert "PUBLIC-visible" in text
    assert "ROLE-ONLY-secret" not in text and "JSM-internal-note" not in text

    from pinecone import Pinecone

    index = Pinecone(api_key=fresh_sandbox.env["PINECONE_API_KEY"]).Index(host=fresh_sandbox.env["PINECONE_INDEX_HOST"])
    meta = index.fetch(ids=[f"jira:{ids[1]}#0"], namespace=fresh_sandbox.env["PINECONE_NAMESPACE"]).vectors
    assert meta[f"jira:{ids[1]}#0"].metadata["security_level"] == "Staff"
    assert meta[f"jira:{ids[1]}#0"].metadata["project"]


def test_a_change_to_any_connector_changes_the_fetch_cache_key(tmp_path: Path) -> None:
    import shutil

    from flows.pipeline import code_digest, fetch_code_version

    root = Path(__file__).resolve().parents[2]
    copy = tmp_path / "repo"
    shutil.copytree(root / "connectors", copy / "connectors", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "ingest").mkdir()
    shutil.copy(root / "ingest" / "document.py", copy / "ingest" / "document.py")
    assert code_digest(copy) == code_digest(root) == fetch_code_version()
    mapper = copy / "connectors" / "tempo.py"
    mapper.write_text(mapper.read_text().replace("Time spent", "Time logged"))
    assert code_digest(copy) != fetch_code_version()
