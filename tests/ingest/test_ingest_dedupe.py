"""The Deduper keeps the newest copy and fails fast on a pagination loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.dedupe import Deduper
from ingest.document import Document
from ingest.errors import PaginationBugSuspected

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _doc(n: int, minutes: int = 0, text: str = "body") -> Document:
    stamp = T0 + timedelta(minutes=minutes)
    return Document(id=f"jira:{n}", source="jira", text=text, created_at=T0, updated_at=stamp)


def test_a_repeated_page_loop_fails_fast_naming_the_ratio() -> None:
    # The predecessor's Jira loop: 51 issues re-read ~148 times each.
    stream = [_doc(i % 51) for i in range(7556)]
    deduper = Deduper()
    batches = [stream[i : i + 50] for i in range(0, len(stream), 50)]
    with pytest.raises(PaginationBugSuspected) as caught:
        for batch in batches:
            deduper.add(batch)
    assert deduper.total <= 150  # failed within the first few batches, not at the end
    message = str(caught.value)
    assert "pagination bug suspected" in message
    assert "unique ids" in message and "copies each" in message and "% duplicates" in message


def test_the_message_at_the_end_reports_the_whole_stream() -> None:
    deduper = Deduper(min_items=10**9)  # never mid-stream: only the end-of-stream check
    deduper.add([_doc(i % 51) for i in range(7556)])
    with pytest.raises(PaginationBugSuspected, match=r"7556 items for 51 unique ids \(148\.2 copies each, 99\.3%"):
        deduper.finish()


def test_one_id_twice_keeps_the_newest() -> None:
    deduper = Deduper()
    kept = deduper.add([_doc(1, 5, "new"), _doc(2), _doc(1, 0, "old")])
    assert {d.id: d.text for d in kept} == {"jira:1": "new", "jira:2": "body"}
    assert deduper.add([_doc(1, 1, "older than seen")]) == []
    assert [d.text for d in deduper.add([_doc(1, 9, "newest")])] == ["newest"]
    deduper.finish()
    assert (deduper.total, deduper.unique, deduper.duplicates) == (5, 2, 3)
