"""What a run could not read, and what it did not cover by design, is printed with its counts, never dropped."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from backfill.reporting import print_summary
from core.report import RunSummary


def test_skipped_scopes_and_notes_are_printed_after_the_counts() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    summary = RunSummary(
        status="verified",
        window=[now, now],
        skipped=["#ops (C0OPS): archived channel the bot is not in; it cannot join"],
        notes=["threads older than 30 days were not re-scanned; widen with --thread-lookback-days 90"],
    )
    assert RunSummary.model_validate(summary.as_dict()) == summary
    console = Console(record=True, width=200)
    print_summary(summary, console)
    text = console.export_text()
    assert "skipped 1 scope(s)" in text and "#ops (C0OPS): archived channel" in text
    assert "note: threads older than 30 days" in text
