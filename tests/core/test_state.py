"""Durable source state: atomic local files, the watermark model, the failure ledger, housekeeping."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.planning import FULL_HISTORY_START
from core.state import LocalStateBackend, SourceState

T0 = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def test_round_trip_and_listing(tmp_path: Path) -> None:
    backend = LocalStateBackend(tmp_path)
    assert backend.load("jira") == SourceState(source="jira")
    state = backend.load("jira")
    state.commit(window_end=T0, earliest=T0 - timedelta(days=700), latest=T0, documents=10, vectors=25)
    backend.save(state)
    again = LocalStateBackend(tmp_path).load("jira")
    assert again.watermark == T0 and again.coverage.vectors == 25 and again.coverage.documents == 10
    assert backend.sources() == ["jira"]
    assert not list((tmp_path / "state").glob(".*.json*"))  # no temp files left behind


def test_watermark_never_moves_backwards() -> None:
    state = SourceState(source="tempo")
    state.commit(window_end=T0, earliest=None, latest=T0, documents=1, vectors=1)
    state.commit(window_end=T0 - DAY, earliest=None, latest=None, documents=1, vectors=1)
    assert state.watermark == T0
    assert state.coverage.latest == T0


def _covers(state: SourceState, start: datetime, scoped: bool = False) -> bool:
    return state.covers_from_watermark(start, scoped=scoped, history_start=FULL_HISTORY_START)[0]


def test_only_a_window_reaching_back_to_the_watermark_moves_it() -> None:
    state = SourceState(source="jira")
    assert not _covers(state, T0 - 14 * DAY)  # no watermark yet: only a read of the whole history counts
    assert _covers(state, FULL_HISTORY_START)
    state.commit(window_end=T0, earliest=None, latest=T0, documents=1, vectors=1, now=T0)
    # The scenario: 20 days later an ad-hoc 14-day run leaves a 6-day gap behind the watermark.
    later = T0 + 20 * DAY
    covers, note = state.covers_from_watermark(later - 14 * DAY, scoped=False, history_start=FULL_HISTORY_START)
    assert not covers and "gap" in note
    state.commit(window_end=later, earliest=None, latest=later, documents=1, vectors=1, covers=covers, note=note)
    assert state.watermark == T0 and state.watermark_note == note
    assert state.coverage.last_success != later  # freshness does not count a run that left a gap
    assert state.coverage.last_run_at is not None
    # A 30-day run reaches back past it; an incremental run starts at it minus the overlap.
    assert _covers(state, later - 30 * DAY) and _covers(state, T0 - timedelta(minutes=30))


def test_a_run_filtered_to_some_scopes_never_moves_the_watermark() -> None:
    state = SourceState(source="jira", watermark=T0)
    covers, note = state.covers_from_watermark(T0 - DAY, scoped=True, history_start=FULL_HISTORY_START)
    assert not covers and "filtered" in note
    state.commit(window_end=T0 + DAY, earliest=None, latest=None, documents=1, vectors=1, covers=covers, note=note)
    assert state.watermark == T0


def test_failures_stay_until_ingested_or_gone() -> None:
    state = SourceState(source="tempo")
    change = state.settle_failures(
        asked=[], ingested=["tempo:9"], failed=[("tempo:1", "bad", T0), ("tempo:2", "bad", T0 - DAY)], now=T0
    )
    assert change.recorded == 2 and [f.id for f in state.failures] == ["tempo:1", "tempo:2"]
    assert state.failure_window_start() == T0 - DAY
    # A run that did not re-read them (another source's view, or a run before refetch existed) keeps them.
    state.settle_failures(asked=[], ingested=[], failed=[], now=T0 + DAY)
    assert [f.id for f in state.failures] == ["tempo:1", "tempo:2"]
    # Re-read: 1 fails again, 2 comes back as a document.
    change = state.settle_failures(
        asked=["tempo:1", "tempo:2"], ingested=["tempo:2"], failed=[("tempo:1", "still bad", T0 + DAY)], now=T0 + DAY
    )
    assert change.resolved == ["tempo:2"] and change.gone == []
    [kept] = state.failures
    assert (kept.id, kept.attempts, kept.reason, kept.first_seen, kept.window_start) == (
        "tempo:1", 2, "still bad", T0, T0,
    )  # fmt: skip
    # Re-read again and neither returned nor failed: it was deleted at the source.
    change = state.settle_failures(asked=["tempo:1"], ingested=[], failed=[], now=T0 + 2 * DAY)
    assert change.gone == ["tempo:1"] and state.failures == []


def test_a_failure_from_before_window_starts_were_kept_means_reread_everything() -> None:
    state = SourceState.model_validate(
        {"source": "tempo", "failures": [{"id": "tempo:1", "reason": "x", "first_seen": T0.isoformat()}]}
    )
    assert state.failure_window_start() is None


def test_leftover_temp_files_are_not_sources(tmp_path: Path) -> None:
    backend = LocalStateBackend(tmp_path)
    backend.save(SourceState(source="jira"))
    (tmp_path / "state" / ".jira.x1y2z3.json").write_text("{")  # a save killed before its rename (old naming)
    (tmp_path / "state" / ".tempo.abc.json.tmp").write_text("{")
    (tmp_path / "state" / "jira.lease").write_text("{}")
    assert backend.sources() == ["jira"]


def test_save_fsyncs_before_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def replace(src: str, dst: object) -> None:
        calls.append("replace")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    LocalStateBackend(tmp_path).save(SourceState(source="jira"))
    assert calls.index("fsync") < calls.index("replace")


def test_pruned_ids_leave_the_failure_ledger_and_nothing_else_does() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    state = SourceState(source="jira")
    state.settle_failures(asked=[], ingested=[], failed=[("jira:1", "bad", now), ("jira:2", "bad", now)], now=now)
    assert state.drop_failures(["jira:2", "jira:9"]) == ["jira:2"]
    assert [f.id for f in state.failures] == ["jira:1"]
    assert state.drop_failures([]) == []
