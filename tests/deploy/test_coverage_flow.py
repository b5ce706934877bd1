"""The coverage flow against a real local server: fails when a source is stale (and alerts), passes when fresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from core.state import LocalStateBackend, SourceState
from flows.coverage import coverage
from tests.deploy.conftest import PrefectServer, Webhook

LAST_SUCCESS = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
def seeded_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A BACKFILL_HOME whose jira, tempo, notion and slack all last succeeded at LAST_SUCCESS."""
    backend = LocalStateBackend(tmp_path)
    for source, docs in (("jira", 120), ("tempo", 40), ("notion", 30), ("slack", 30)):
        state = SourceState(source=source)
        state.commit(
            window_end=LAST_SUCCESS - timedelta(hours=1),
            earliest=datetime(2024, 1, 5, tzinfo=UTC),
            latest=LAST_SUCCESS - timedelta(hours=1),
            documents=docs,
            vectors=docs * 3,
            now=LAST_SUCCESS,
        )
        state.coverage.last_run_status = "verified"
        backend.save(state)
    monkeypatch.setenv("BACKFILL_HOME", str(tmp_path))
    monkeypatch.delenv("BACKFILL_RESULTS_BLOCK", raising=False)
    monkeypatch.delenv("BACKFILL_SOURCES", raising=False)
    monkeypatch.delenv("BACKFILL_FRESHNESS_JIRA_HOURS", raising=False)
    monkeypatch.setenv("BACKFILL_FRESHNESS_TEMPO_HOURS", "48")
    monkeypatch.setenv("BACKFILL_FRESHNESS_NOTION_HOURS", "48")
    monkeypatch.setenv("BACKFILL_FRESHNESS_SLACK_HOURS", "48")
    return tmp_path


def _latest_markdown(key: str) -> str:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return max(artifacts, key=lambda a: a.created).data


def test_coverage_passes_while_every_source_is_fresh(deploy_server: PrefectServer, seeded_home: Path) -> None:
    state = coverage(now=LAST_SUCCESS + timedelta(hours=20), return_state=True)
    assert state.is_completed()
    result: dict[str, Any] = state.result()
    assert result["stale"] == []
    assert {row["source"]: row["status"] for row in result["sources"]} == {
        "jira": "fresh",
        "tempo": "fresh",
        "notion": "fresh",
        "slack": "fresh",
    }
    assert "| jira | fresh |" in _latest_markdown("backfill-coverage-report")


def test_coverage_fails_naming_the_stale_source_when_the_clock_passes_its_threshold(
    deploy_server: PrefectServer, seeded_home: Path, alerts_setup: dict[str, Any], webhook: Webhook
) -> None:
    # 30 h after the last success: past jira's 26 h default, within tempo's 48 h override.
    state = coverage(now=LAST_SUCCESS + timedelta(hours=30), return_state=True)
    assert state.is_failed()
    assert "stale sources: jira" in state.message
    assert "tempo" not in state.message.split("—")[0]
    markdown = _latest_markdown("backfill-coverage-report")
    assert "| jira | stale |" in markdown and "| tempo | fresh |" in markdown
    post = webhook.wait_for("stale sources: jira", timeout=60)
    assert "Backfill coverage" in post["title"]
