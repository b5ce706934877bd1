"""The ingest engine's exceptions. Every message names counts and sample ids, never a secret."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "EmbeddingError",
    "IngestError",
    "MetadataTooLarge",
    "PaginationBugSuspected",
    "StoreError",
    "UpsertShortfall",
    "VerificationFailed",
]

SAMPLE_SIZE = 5


def sample(ids: Sequence[str], size: int = SAMPLE_SIZE) -> str:
    """A short, readable sample of ids for an error message."""
    shown = ", ".join(ids[:size])
    more = f" … (+{len(ids) - size} more)" if len(ids) > size else ""
    return f"[{shown}{more}]"


class IngestError(RuntimeError):
    """Base of every ingest failure."""


class PaginationBugSuspected(IngestError):
    """Too many copies of the same ids: a connector is re-reading pages instead of advancing."""


class MetadataTooLarge(IngestError):
    """A chunk's metadata cannot fit the store's per-vector limit even with every optional field shrunk."""


class EmbeddingError(IngestError):
    """The embedder failed for good (after retries) or returned something unusable."""


class StoreError(IngestError):
    """The vector store rejected a request for good (after retries)."""


class VerificationFailed(IngestError):
    """Written vectors could not be read back (or read back with the wrong content) within the bound."""

    def __init__(self, message: str, missing: Sequence[str] = (), report: Any = None) -> None:
        super().__init__(message)
        self.missing = list(missing)
        self.report = report


class UpsertShortfall(VerificationFailed):
    """The store acknowledged fewer records than were sent (e.g. Pinecone ``upsertedCount`` short)."""
