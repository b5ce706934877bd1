"""Durable source state: atomic local files, a watermark that never moves back, failures counted across runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from backfill.state import LocalStateBackend, SourceState

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_round_trip_and_listing(tmp_path: Path) -> None:
    backend = LocalStateBackend(tmp_path)
    assert backend.load("jira") == SourceState(source="jira")
    state = backend.load("jira")
    state.commit(window_end=T0, earliest=T0 - timedelta(days=700), latest=T0, documents=10, vectors=25)
    backend.save(state)
    again = LocalStateBackend(tmp_path).load("jira")
    assert again.watermark == T0 and again.coverage.vectors == 25 and again.coverage.documents == 10
    assert backend.sources() == ["jira"]
    assert not list((tmp_path / "state").glob(".*"))  # no temp files left behind


def test_watermark_never_moves_backwards() -> None:
    state = SourceState(source="tempo")
    state.commit(window_end=T0, earliest=None, latest=T0, documents=1, vectors=1)
    state.commit(window_end=T0 - timedelta(days=1), earliest=None, latest=None, documents=1, vectors=1)
    assert state.watermark == T0
    assert state.coverage.latest == T0


def test_failures_accumulate_attempts_and_clear_when_fixed() -> None:
    state = SourceState(source="jira")
    state.record_failures([("jira:1", "no summary"), ("jira:2", "bad date")], T0)
    state.record_failures([("jira:1", "no summary")], T0 + timedelta(days=1))
    assert [(f.id, f.attempts, f.first_seen) for f in state.failures] == [("jira:1", 2, T0)]
    state.record_failures([], T0)
    assert state.failures == []
