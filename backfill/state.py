"""Durable per-source state: the watermark, the coverage record and the failures to retry.

The state is a small JSON document per source. Where it lives is a backend: a folder under ``BACKFILL_HOME`` for
local runs, Prefect Variables for deployments (managed workers lose their disk; see ``flows/state.py``). Nothing
here imports Prefect.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

__all__ = ["Coverage", "FailureRecord", "LocalStateBackend", "PendingRun", "SourceState", "StateBackend"]


class FailureRecord(BaseModel):
    """One record that could not be mapped or ingested; retried first by the next run."""

    id: str
    reason: str
    first_seen: datetime
    attempts: int = 1


class Coverage(BaseModel):
    """What the index holds for one source, as proven by the last verified run."""

    earliest: datetime | None = None  # oldest item's updated_at seen in any verified run
    latest: datetime | None = None  # newest item's updated_at seen in any verified run
    documents: int = 0  # documents verified in the store (cumulative, by id)
    vectors: int = 0  # vectors under the source prefix after the last verified run
    last_success: datetime | None = None
    last_run_status: str = "never"


class PendingRun(BaseModel):
    """The window of a run that started but has not committed: a resumed run reuses it exactly, so the fetch
    partitions (and their cache keys) are the same and nothing finished is fetched again."""

    key: str  # what the run was asked for (parameters and filters), as a stable string
    start: datetime
    until: datetime


class SourceState(BaseModel):
    """Everything Backfill remembers about one source between runs."""

    source: str
    watermark: datetime | None = None  # the window end of the last verified run
    coverage: Coverage = Field(default_factory=Coverage)
    failures: list[FailureRecord] = Field(default_factory=list)
    pending: PendingRun | None = None

    def record_failures(self, failures: list[tuple[str, str]], now: datetime) -> None:
        """Merge this run's failures (id, reason) with the remembered ones, counting attempts."""
        known = {f.id: f for f in self.failures}
        merged: list[FailureRecord] = []
        for fid, reason in failures:
            if fid in known:
                prev = known[fid]
                merged.append(prev.model_copy(update={"reason": reason, "attempts": prev.attempts + 1}))
            else:
                merged.append(FailureRecord(id=fid, reason=reason, first_seen=now))
        self.failures = merged

    def commit(
        self,
        *,
        window_end: datetime,
        earliest: datetime | None,
        latest: datetime | None,
        documents: int,
        vectors: int,
        now: datetime | None = None,
    ) -> None:
        """Advance the watermark and coverage after a verified run. Never moves the watermark backwards."""
        now = now or datetime.now(UTC)
        if self.watermark is None or window_end > self.watermark:
            self.watermark = window_end
        cov = self.coverage
        cov.earliest = min(filter(None, [cov.earliest, earliest]), default=None)
        cov.latest = max(filter(None, [cov.latest, latest]), default=None)
        cov.documents = max(cov.documents, documents)
        cov.vectors = vectors
        cov.last_success = now
        self.pending = None


class StateBackend(Protocol):
    """Where source states are kept."""

    def load(self, source: str) -> SourceState: ...

    def save(self, state: SourceState) -> None: ...

    def sources(self) -> list[str]: ...


class LocalStateBackend:
    """One JSON file per source under ``<home>/state``; writes are atomic (temp file + rename)."""

    def __init__(self, home: Path) -> None:
        self.dir = Path(home) / "state"

    def _path(self, source: str) -> Path:
        return self.dir / f"{source}.json"

    def load(self, source: str) -> SourceState:
        path = self._path(source)
        if not path.exists():
            return SourceState(source=source)
        return SourceState.model_validate_json(path.read_text())

    def save(self, state: SourceState) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=f".{state.source}.", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            fh.write(state.model_dump_json(indent=2))
        os.replace(tmp, self._path(state.source))

    def sources(self) -> list[str]:
        if not self.dir.exists():
            return []
        return sorted(p.stem for p in self.dir.glob("*.json"))
