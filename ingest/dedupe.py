"""Streaming de-duplication by document id, and the guard that would have caught the predecessor's Jira loop.

A connector re-reading the same page (an ignored ``startAt``) yields thousands of items for a few dozen ids.
The Deduper keeps the newest copy of each id and fails loudly once duplicates exceed a small share.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ingest.document import Document
from ingest.errors import PaginationBugSuspected

__all__ = ["Deduper"]


class Deduper:
    """Feed it batches; it returns, per batch, the documents that are new or newer than any copy seen before.

    Memory grows with the number of unique ids only (one timestamp per id), never with document bodies.
    """

    def __init__(
        self,
        max_duplicate_share: float = 0.05,
        min_items: int = 100,
        min_duplicates: int = 5,
        label: str = "",
    ) -> None:
        self.max_duplicate_share = max_duplicate_share
        self.min_items = min_items  # the share is only meaningful once this many items were seen
        self.min_duplicates = min_duplicates  # a handful of repeats in a tiny run is noise, not a bug
        self.label = label
        self.total = 0
        self._newest: dict[str, datetime] = {}

    @property
    def unique(self) -> int:
        return len(self._newest)

    @property
    def duplicates(self) -> int:
        return self.total - self.unique

    def add(self, batch: Iterable[Document]) -> list[Document]:
        """Record ``batch``; return its documents worth ingesting (newest per id, newer than seen before)."""
        keep: dict[str, Document] = {}
        for doc in batch:
            self.total += 1
            seen = self._newest.get(doc.id)
            if seen is None or doc.updated_at > seen:
                self._newest[doc.id] = doc.updated_at
                keep[doc.id] = doc
        if self.total >= self.min_items:
            self.check()
        return list(keep.values())

    def check(self) -> None:
        """Raise ``PaginationBugSuspected`` when duplicates exceed the allowed share."""
        if self.total == 0 or self.duplicates < self.min_duplicates:
            return
        if self.duplicates / self.total > self.max_duplicate_share:
            raise PaginationBugSuspected(self.describe())

    def finish(self) -> None:
        """The end-of-stream check, whatever the number of items seen."""
        self.check()

    def describe(self) -> str:
        prefix = f"{self.label}: " if self.label else ""
        copies = self.total / self.unique if self.unique else 0.0
        share = 100 * self.duplicates / self.total if self.total else 0.0
        return (
            f"{prefix}pagination bug suspected: {self.total} items for {self.unique} unique ids "
            f"({copies:.1f} copies each, {share:.1f}% duplicates)"
        )
