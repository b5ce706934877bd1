"""Durable per-source state: the watermark, the coverage record, the failure ledger and the run lease.

The state is a small JSON document per source. Where it lives is a backend: a folder under ``BACKFILL_HOME`` for
local runs (``LocalStateBackend``), or a saved Prefect filesystem block such as an S3 bucket for deployments on
managed workers, whose disks vanish (``flows/runtime.py``). Nothing here imports Prefect.

**The watermark model.** One watermark per source. It means "every item updated before this instant is in the
index, for every scope of the source" (all Jira projects, all of Tempo). So it only moves when a verified run
covered the time from the old watermark onwards without a gap, for every scope:

- a scheduled (incremental) run starts at the watermark minus an overlap: it moves it;
- a ``full`` run starts at the beginning of history: it moves it;
- an ad-hoc ``days_back``/``since`` run moves it only if its window reaches back to the old watermark;
- a run filtered to some scopes (``projects=[…]``) never moves it: the other scopes were not read.

Runs that cannot move it still ingest and verify what they fetched; ``watermark_note`` says why it held.

**The failure ledger.** A record that could not be mapped stays in ``failures`` until it is ingested or proven
gone at the source. Every run asks its connector to re-read the ledger's records first (by id, or by re-reading
the window that held them); a record that comes back as a document leaves the ledger, one that fails again
stays (attempts + 1), and one the re-read did not return at all no longer exists at the source and is dropped.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

from core.lease import LeaseStore, LocalLeaseStore

__all__ = [
    "Coverage",
    "FailureRecord",
    "LedgerChange",
    "LocalStateBackend",
    "PendingRun",
    "SourceState",
    "StateBackend",
    "is_state_file",
]


class FailureRecord(BaseModel):
    """One record that could not be mapped or ingested; re-read first by every later run until it is settled."""

    id: str
    reason: str
    first_seen: datetime
    attempts: int = 1
    last_seen: datetime | None = None
    # The start of the window that held the record when it failed: sources that cannot re-read by id
    # (Tempo) re-read from here. None for records from before this field existed: re-read everything.
    window_start: datetime | None = None


class Coverage(BaseModel):
    """What the index holds for one source, as proven by the last verified run."""

    earliest: datetime | None = None  # oldest item's updated_at seen in any verified run
    latest: datetime | None = None  # newest item's updated_at seen in any verified run
    documents: int = 0  # documents verified in the store (cumulative, by id)
    vectors: int = 0  # vectors under the source prefix after the last verified run
    # The last verified run that covered every scope up to its end (what freshness is measured from):
    # a run filtered to some projects, or a window that starts after the watermark, does not count.
    last_success: datetime | None = None
    last_run_status: str = "never"
    last_run_at: datetime | None = None  # the last run of any kind that got as far as committing


class PendingRun(BaseModel):
    """The window of a run that started but has not committed: a resumed run reuses it exactly, so the fetch
    partitions and ``run_key`` (their cache key) are the same and nothing finished is fetched again."""

    key: str  # what the run was asked for (parameters and filters), as a stable string
    start: datetime
    until: datetime
    # Part of every fetch task's cache key: only the resumption of *this* run reuses its finished partitions;
    # a new run (a fresh ``full`` after an upgrade, say) fetches everything again.
    run_key: str = Field(default_factory=lambda: uuid.uuid4().hex)


class LedgerChange(BaseModel):
    """What one run did to the failure ledger."""

    recorded: int = 0  # failures of this run (new or again)
    resolved: list[str] = Field(default_factory=list)  # came back as documents and were ingested
    gone: list[str] = Field(default_factory=list)  # the re-read did not return them: deleted at the source


class SourceState(BaseModel):
    """Everything Backfill remembers about one source between runs."""

    source: str
    watermark: datetime | None = None  # see the module docstring: every scope is in the index before this
    watermark_note: str = ""  # why the last run moved it or held it (shown by ``backfill status``)
    coverage: Coverage = Field(default_factory=Coverage)
    failures: list[FailureRecord] = Field(default_factory=list)
    pending: PendingRun | None = None

    # -- the watermark ----------------------------------------------------------------------------------

    def covers_from_watermark(self, start: datetime, *, scoped: bool, history_start: datetime) -> tuple[bool, str]:
        """Whether a run over ``[start, …)`` may move the watermark, and why (or why not)."""
        if scoped:
            return False, "held: the run was filtered to some scopes; the others were not read"
        if self.watermark is None:
            if start <= history_start:
                return True, "moved: first full read of the history"
            return False, f"held: no watermark yet and the run started at {start.isoformat()}, not at the beginning"
        if start <= self.watermark:
            return True, "moved: the run covered the time since the previous watermark"
        return False, (
            f"held: the run started at {start.isoformat()}, after the watermark {self.watermark.isoformat()}; "
            "the gap between them was not read"
        )

    def commit(
        self,
        *,
        window_end: datetime | None,
        earliest: datetime | None,
        latest: datetime | None,
        documents: int,
        vectors: int,
        covers: bool = True,
        note: str = "",
        now: datetime | None = None,
    ) -> None:
        """Record a verified run. The watermark moves to ``window_end`` only when the run ``covers`` the time
        since the old one (see ``covers_from_watermark``), and never backwards."""
        now = now or datetime.now(UTC)
        if covers and window_end is not None and (self.watermark is None or window_end > self.watermark):
            self.watermark = window_end
        self.watermark_note = note
        cov = self.coverage
        cov.earliest = min(filter(None, [cov.earliest, earliest]), default=None)
        cov.latest = max(filter(None, [cov.latest, latest]), default=None)
        cov.documents = max(cov.documents, documents)
        cov.vectors = vectors
        if covers:
            cov.last_success = now
        cov.last_run_at = now
        self.pending = None

    # -- the failure ledger -----------------------------------------------------------------------------

    def settle_failures(
        self,
        *,
        asked: Iterable[str],
        ingested: Iterable[str],
        failed: Iterable[tuple[str, str, datetime | None]],
        now: datetime,
    ) -> LedgerChange:
        """Update the ledger after a verified run.

        ``asked``: ledger ids the run re-read; ``ingested``: ids of every document the run verified;
        ``failed``: this run's failures as (id, reason, window start). Failures of this run are kept (attempts
        counted); asked ids that were ingested leave; asked ids that neither came back nor failed are gone at
        the source. Ledger ids the run did not ask about stay as they are.
        """
        ingested_ids = set(ingested)
        known = {f.id: f for f in self.failures}
        change = LedgerChange()
        merged: dict[str, FailureRecord] = {}
        for fid, reason, window_start in failed:
            change.recorded += 1
            prev = merged.get(fid) or known.get(fid)
            if prev is not None:
                start = min(filter(None, [prev.window_start, window_start]), default=None)
                update = {"reason": reason, "attempts": prev.attempts + 1, "last_seen": now, "window_start": start}
                merged[fid] = prev.model_copy(update=update)
            else:
                merged[fid] = FailureRecord(
                    id=fid, reason=reason, first_seen=now, last_seen=now, window_start=window_start
                )
        asked_ids = set(asked)
        for fid, record in known.items():
            if fid in merged:
                continue
            if fid in ingested_ids:
                change.resolved.append(fid)
            elif fid in asked_ids:
                change.gone.append(fid)
            else:
                merged[fid] = record
        self.failures = sorted(merged.values(), key=lambda f: f.id)
        return change

    def drop_failures(self, doc_ids: Iterable[str]) -> list[str]:
        """Remove ledger records of ``doc_ids`` (documents proven gone at the source by pruning); the dropped ids."""
        gone = set(doc_ids)
        dropped = [f.id for f in self.failures if f.id in gone]
        self.failures = [f for f in self.failures if f.id not in gone]
        return dropped

    def failure_window_start(self) -> datetime | None:
        """The earliest window that held a ledger record (None: unknown for some, re-read everything)."""
        starts = [f.window_start for f in self.failures]
        return None if any(s is None for s in starts) else min(starts, default=None)  # type: ignore[type-var]


def is_state_file(path: Path) -> bool:
    """A source's state file, not a temp file left by a killed save (``.jira.x1y2.json``) or a lease."""
    return path.suffix == ".json" and not path.name.startswith(".") and not path.name.startswith("_")


class StateBackend(Protocol):
    """Where source states (and their leases) are kept."""

    def load(self, source: str) -> SourceState: ...

    def save(self, state: SourceState) -> None: ...

    def sources(self) -> list[str]: ...

    def lease_store(self, source: str) -> LeaseStore: ...


class LocalStateBackend:
    """One JSON file per source under ``<home>/state``; writes are atomic (fsync'd temp file + rename)."""

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
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=f".{state.source}.", suffix=".json.tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(state.model_dump_json(indent=2))
                fh.flush()
                os.fsync(fh.fileno())  # the rename must not publish a file whose data is still in flight
            os.replace(tmp, self._path(state.source))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # the rename itself durable too
            dir_fd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def sources(self) -> list[str]:
        if not self.dir.exists():
            return []
        return sorted(p.stem for p in self.dir.glob("*.json") if is_state_file(p))

    def lease_store(self, source: str) -> LeaseStore:
        return LocalLeaseStore(self.dir, source)
