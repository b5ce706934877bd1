"""The counts of a run, in the order every report shows them (terminal, Prefect artifacts, JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["REPORT_FIELDS", "SOURCE_RUN_FIELDS", "PruneSummary", "RunSummary"]

REPORT_FIELDS = (
    "partitions",
    "documents",
    "unique",
    "chunks",
    "unchanged",
    "embedded",
    "upserted",
    "verified",
    "deleted",
    "metadata_updated",
    "failures",
    "failures_resolved",
    "failures_gone",
    "withheld",
    "tokens",
    "estimated_cost_usd",
)
# Counts only a source run has (an ingest of a JSON-lines file has none of them).
SOURCE_RUN_FIELDS = frozenset({"partitions", "failures", "failures_resolved", "failures_gone", "withheld"})


class RunSummary(BaseModel):
    """What one run did: its counts (``REPORT_FIELDS``), its status and, for a source run, its window, watermark
    and requests. Flows return it as JSON (``as_dict``); the CLI, the demo and the artifacts read it back typed."""

    model_config = ConfigDict(extra="forbid")

    status: str = "running"  # verified | failed | dry_run | budget_stopped | running
    error: str | None = None
    partitions: int = 0
    documents: int = 0
    unique: int = 0
    chunks: int = 0
    unchanged: int = 0
    embedded: int = 0
    upserted: int = 0
    verified: int = 0
    deleted: int = 0
    metadata_updated: int = 0  # chunks whose metadata (e.g. a changed acl) was re-written without re-embedding
    failures: int = 0
    failures_resolved: int = 0
    failures_gone: int = 0
    withheld: int = 0
    tokens: int = 0
    estimated_cost_usd: float = 0.0
    missing: int = 0
    missing_sample: list[str] = Field(default_factory=list)
    window: list[datetime] | None = None
    watermark: datetime | None = None
    watermark_moved: bool = False
    watermark_note: str = ""
    requests: dict[str, int] = Field(default_factory=dict)  # source API requests per endpoint (retries included)
    skipped: list[str] = Field(default_factory=list)  # scopes the source could not read: "<scope>: <reason>"
    notes: list[str] = Field(default_factory=list)  # what the run did not cover by design, and how to widen it

    @classmethod
    def failed(cls, error: str, partial: Mapping[str, Any] | None = None) -> RunSummary:
        """A failed run's summary: whatever counts it reached, its status and the error text."""
        known = {k: v for k, v in (partial or {}).items() if k in cls.model_fields}
        return cls.model_validate({**known, "status": "failed", "error": error})

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def is_source_run(self) -> bool:
        return self.window is not None

    def counts(self) -> dict[str, int | float]:
        """The report fields, in order (a plain ingest has no partitions, failure ledger or withheld items)."""
        shown = REPORT_FIELDS if self.is_source_run else [f for f in REPORT_FIELDS if f not in SOURCE_RUN_FIELDS]
        return {name: getattr(self, name) for name in shown}


class PruneSummary(BaseModel):
    """What one prune did: what the source still has, what the index held, what was (or was not) deleted and why.

    ``status``: ``pruned`` (deletions verified, or nothing to delete), ``dry_run`` (nothing deleted on purpose),
    ``refused`` (the guard stopped it: a failed or partial listing, a rejected token, or too large a share),
    ``failed`` (deletions did not verify).
    """

    model_config = ConfigDict(extra="forbid")

    source: str
    status: str = "running"  # pruned | dry_run | refused | failed | running
    reason: str = ""  # why nothing (or not everything) was deleted
    scopes: int = 0  # listings made at the source (Jira: one per set of projects)
    live: int = 0  # documents the source still has
    stored: int = 0  # documents under the source's prefix in the index
    stale: int = 0  # held by the index, gone at the source
    share: float = 0.0  # stale / stored
    max_share: float = 0.0  # the threshold in force (BACKFILL_PRUNE_MAX_SHARE)
    forced: bool = False
    deleted_documents: int = 0
    deleted_vectors: int = 0
    verified_gone: int = 0  # deleted vector ids that read back as absent
    failures_dropped: int = 0  # ledger records of deleted documents
    pending_cleared: bool = False  # an unfinished run's cached fetch results can no longer be resumed
    stale_sample: list[str] = Field(default_factory=list)
    requests: dict[str, int] = Field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
