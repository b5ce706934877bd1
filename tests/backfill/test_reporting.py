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


def test_the_demo_shows_each_document_once_however_many_of_its_chunks_match() -> None:
    from backfill.demo import distinct_documents

    hits = [
        {"id": "slack:C1:1.0#1", "doc_id": "slack:C1:1.0", "score": 0.9},
        {"id": "slack:C1:1.0#0", "doc_id": "slack:C1:1.0", "score": 0.8},
        {"id": "jira:1#0", "doc_id": "jira:1", "score": 0.7},
        {"id": "notion:a#0", "doc_id": "notion:a", "score": 0.6},
        {"id": "tempo:9#0", "doc_id": "tempo:9", "score": 0.5},
    ]
    assert [h["id"] for h in distinct_documents(hits, 3)] == ["slack:C1:1.0#1", "jira:1#0", "notion:a#0"]
