"""Window planning: parameters first, then the watermark minus the overlap; a first run is a full run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.planning import FULL_HISTORY_START, RunParams, plan_window

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
OVERLAP = timedelta(minutes=30)


def test_days_back() -> None:
    start, end, _ = plan_window(RunParams(days_back=3), None, NOW, OVERLAP)
    assert (start, end) == (NOW - timedelta(days=3), NOW)


def test_since_is_utc_midnight() -> None:
    start, _, why = plan_window(RunParams(since=date(2026, 1, 2)), None, NOW, OVERLAP)
    assert start == datetime(2026, 1, 2, tzinfo=UTC) and "2026-01-02" in why


def test_incremental_from_watermark_minus_overlap() -> None:
    watermark = NOW - timedelta(hours=5)
    start, end, _ = plan_window(RunParams(), watermark, NOW, OVERLAP)
    assert (start, end) == (watermark - OVERLAP, NOW)


def test_first_run_without_watermark_is_full() -> None:
    start, _, why = plan_window(RunParams(), None, NOW, OVERLAP)
    assert start == FULL_HISTORY_START and "full" in why


def test_conflicting_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match="at most one of"):
        plan_window(RunParams(days_back=2, full=True), None, NOW, OVERLAP)


def test_since_in_the_future_is_rejected() -> None:
    with pytest.raises(ValueError, match="not in the past"):
        plan_window(RunParams(since=date(2030, 1, 1)), None, NOW, OVERLAP)
