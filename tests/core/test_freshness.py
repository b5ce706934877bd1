"""Freshness rules: thresholds, the clock, and fresh / stale / never."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.freshness import (
    FreshnessError,
    assess,
    coverage_report,
    expected_sources,
    render_markdown,
    resolve_now,
    threshold_for,
)
from core.state import LocalStateBackend, SourceState

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _state(source: str, last_success: datetime | None, latest: datetime | None = None) -> SourceState:
    state = SourceState(source=source)
    state.coverage.last_success = last_success
    state.coverage.latest = latest
    return state


def test_default_thresholds_and_env_override() -> None:
    assert threshold_for("jira", env={}) == timedelta(hours=26)
    assert threshold_for("tempo", env={"BACKFILL_FRESHNESS_TEMPO_HOURS": "72"}) == timedelta(hours=72)
    assert threshold_for("tempo", env={}, default_hours=6) == timedelta(hours=6)  # its registry entry's default
    assert threshold_for("brand-new-source", env={}) == timedelta(hours=26)


@pytest.mark.parametrize("raw", ["soon", "0", "-3"])
def test_a_bad_threshold_names_its_variable(raw: str) -> None:
    with pytest.raises(FreshnessError, match="BACKFILL_FRESHNESS_JIRA_HOURS"):
        threshold_for("jira", env={"BACKFILL_FRESHNESS_JIRA_HOURS": raw})


def test_stale_is_decided_by_the_last_success_not_the_newest_item() -> None:
    quiet = _state("jira", last_success=NOW - timedelta(hours=1), latest=NOW - timedelta(days=40))
    stopped = _state("tempo", last_success=NOW - timedelta(hours=27), latest=NOW - timedelta(hours=27))
    fresh, stale = assess(quiet, NOW, timedelta(hours=26)), assess(stopped, NOW, timedelta(hours=26))
    assert (fresh.status, fresh.newest_item_age_hours) == ("fresh", 960.0)
    assert (stale.status, stale.hours_since_success) == ("stale", 27.0)
    assert "27.0h ago > threshold 26h" in stale.reason()


def test_exactly_at_the_threshold_is_still_fresh() -> None:
    assert assess(_state("jira", NOW - timedelta(hours=26)), NOW, timedelta(hours=26)).status == "fresh"


def test_a_source_that_never_succeeded_is_never_not_stale() -> None:
    row = assess(_state("jira", None), NOW, timedelta(hours=26))
    assert row.status == "never" and row.hours_since_success is None


def test_now_comes_from_the_argument_then_backfill_now_then_the_clock() -> None:
    assert resolve_now(NOW, env={"BACKFILL_NOW": "2020-01-01T00:00:00Z"}) == NOW
    assert resolve_now(None, env={"BACKFILL_NOW": "2026-06-01T12:00:00"}) == NOW  # naive = UTC
    assert abs(resolve_now(None, env={}) - datetime.now(UTC)) < timedelta(minutes=1)
    with pytest.raises(FreshnessError, match="BACKFILL_NOW"):
        resolve_now(None, env={"BACKFILL_NOW": "yesterday"})


def test_report_lists_expected_and_known_sources(tmp_path: Path) -> None:
    backend = LocalStateBackend(tmp_path)
    backend.save(_state("jira", NOW - timedelta(hours=30), latest=NOW - timedelta(hours=31)))
    backend.save(_state("slack", NOW - timedelta(hours=2)))
    report = coverage_report(backend, NOW, env={}, registered={"jira": 26.0, "tempo": 26.0})
    assert [(r.source, r.status) for r in report.sources] == [("jira", "stale"), ("slack", "fresh"), ("tempo", "never")]
    assert report.stale == ["jira"]
    payload = report.as_json()
    assert payload["stale"] == ["jira"] and len(payload["sources"]) == 3
    markdown = render_markdown(report)
    assert markdown.startswith("# Current Data Coverage")
    assert "**Stale:** jira: last success 30.0h ago" in markdown
    assert "**No verified run yet:** tempo" in markdown


def test_backfill_sources_replaces_the_expected_list() -> None:
    assert expected_sources({"BACKFILL_SOURCES": "jira, Slack"}) == ["jira", "slack"]
    assert expected_sources({}, registered=["jira", "tempo"]) == ["jira", "tempo"]


def _status_app():  # the lead registers `status` on the real CLI; a one-command app runs it the same way
    import typer

    from backfill.commands_ops import status

    app = typer.Typer()
    app.command()(status)
    return app


def test_status_json_and_exit_code_follow_the_clock(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    backend = LocalStateBackend(tmp_path)
    for source in ("jira", "tempo"):
        backend.save(_state(source, NOW - timedelta(hours=1), latest=NOW - timedelta(hours=2)))
    env: dict[str, str | None] = {
        "BACKFILL_HOME": str(tmp_path),
        "BACKFILL_RESULTS_BLOCK": None,
        "BACKFILL_SOURCES": "jira,tempo",
    }
    runner = CliRunner()

    fresh = runner.invoke(_status_app(), ["--json"], env={**env, "BACKFILL_NOW": NOW.isoformat()})
    assert fresh.exit_code == 0, fresh.output
    assert json.loads(fresh.stdout)["stale"] == []

    later = (NOW + timedelta(hours=30)).isoformat()
    stale = runner.invoke(_status_app(), ["--json"], env={**env, "BACKFILL_NOW": later})
    assert stale.exit_code == 1
    payload = json.loads(stale.stdout)
    assert payload["stale"] == ["jira", "tempo"]
    assert {row["status"] for row in payload["sources"]} == {"stale"}

    table = runner.invoke(_status_app(), [], env={**env, "BACKFILL_NOW": later})
    assert table.exit_code == 1
    assert "Current Data Coverage" in table.stdout and "jira: last success 31.0h ago" in table.stdout


def test_status_shows_the_watermark_and_why_it_held(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    backend = LocalStateBackend(tmp_path)
    state = _state("jira", NOW - timedelta(hours=1), latest=NOW - timedelta(hours=2))
    state.watermark = NOW - timedelta(days=3)
    state.watermark_note = "held: the run was filtered to some scopes; the others were not read"
    backend.save(state)
    env: dict[str, str | None] = {
        "BACKFILL_HOME": str(tmp_path),
        "BACKFILL_RESULTS_BLOCK": None,
        "BACKFILL_SOURCES": "jira",
        "BACKFILL_NOW": NOW.isoformat(),
    }
    runner = CliRunner()
    payload = json.loads(runner.invoke(_status_app(), ["--json"], env=env).stdout)
    [row] = payload["sources"]
    assert row["watermark"] == (NOW - timedelta(days=3)).isoformat().replace("+00:00", "Z")
    assert row["watermark_note"].startswith("held: the run was filtered")
    table = runner.invoke(_status_app(), [], env={**env, "COLUMNS": "250"})
    assert "watermark" in table.stdout and "jira: watermark held: the run was filtered" in table.stdout
