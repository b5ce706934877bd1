"""Per-source freshness: is each source's data in the index recent enough? Plain Python, no Prefect.

The rule (also in docs/RUNBOOK.md): a source is **stale** when its last *verified* run (``last_success``) is older
than the source's threshold. The age of the newest item is shown but never decides: a quiet Jira project or a
holiday week legitimately has old items, while a sync that stopped succeeding is exactly the predecessor's silent
failure. A source with no successful run yet is **never**: reported, not counted as stale (its own failing backfill
runs already alert; run the first backfill right after deploying).

Thresholds default to 26 h for daily-synced sources (a day plus slack for a slow run) and can be overridden per
source with ``BACKFILL_FRESHNESS_<SOURCE>_HOURS``. The clock is a parameter (``now``) so tests and the CLI
(``BACKFILL_NOW``) can move it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from core.state import SourceState, StateBackend

__all__ = [
    "FALLBACK_THRESHOLD_HOURS",
    "CoverageReport",
    "FreshnessError",
    "SourceFreshness",
    "assess",
    "coverage_report",
    "expected_sources",
    "render_markdown",
    "resolve_now",
    "threshold_for",
]

Status = Literal["fresh", "stale", "never"]

# Every deployed source syncs at least daily; 26 h = one day plus room for a slow or retried run. Each source's own
# default comes from its registry entry (connectors/registry.py ``freshness_defaults``), passed in by the callers:
# this module knows no source by name.
FALLBACK_THRESHOLD_HOURS = 26.0


class FreshnessError(ValueError):
    """A freshness setting (threshold, BACKFILL_NOW, BACKFILL_SOURCES) is invalid; the message names it."""


class SourceFreshness(BaseModel):
    """One row of the coverage table."""

    source: str
    status: Status
    earliest: datetime | None
    latest: datetime | None
    documents: int
    vectors: int
    last_success: datetime | None
    last_run_status: str
    hours_since_success: float | None
    newest_item_age_hours: float | None
    threshold_hours: float
    failures: int
    # "everything updated before this is in the index, for every scope" (core/state.py), and why the last
    # run moved or held it
    watermark: datetime | None = None
    watermark_note: str = ""

    def reason(self) -> str:
        """One line saying why the source has its status (used in alerts and the CLI)."""
        if self.status == "never":
            return f"{self.source}: no verified run yet"
        verdict = ">" if self.status == "stale" else "≤"
        return (
            f"{self.source}: last success {self.hours_since_success:.1f}h ago "
            f"{verdict} threshold {self.threshold_hours:g}h"
        )


class CoverageReport(BaseModel):
    """Coverage and freshness of every known source at ``now``."""

    now: datetime
    sources: list[SourceFreshness]

    @property
    def stale(self) -> list[str]:
        return [row.source for row in self.sources if row.status == "stale"]

    def as_json(self) -> dict[str, object]:
        """The ``backfill status --json`` object: ``{now, sources: [...], stale: [...]}``."""
        return {
            "now": self.now.isoformat(),
            "sources": [row.model_dump(mode="json") for row in self.sources],
            "stale": self.stale,
        }

    def table_rows(self) -> list[dict[str, object]]:
        """Rows for a Prefect table artifact (strings and numbers only)."""
        return [
            {
                "source": row.source,
                "status": row.status,
                "earliest": _fmt_time(row.earliest),
                "latest": _fmt_time(row.latest),
                "documents": row.documents,
                "vectors": row.vectors,
                "last_success": _fmt_time(row.last_success),
                "hours_since_success": _fmt_hours(row.hours_since_success),
                "newest_item_age_hours": _fmt_hours(row.newest_item_age_hours),
                "threshold_hours": row.threshold_hours,
                "failures": row.failures,
                "watermark": _fmt_time(row.watermark),
            }
            for row in self.sources
        ]


def threshold_for(
    source: str, env: Mapping[str, str] | None = None, default_hours: float = FALLBACK_THRESHOLD_HOURS
) -> timedelta:
    """The freshness threshold of ``source``: ``BACKFILL_FRESHNESS_<SOURCE>_HOURS``, else ``default_hours`` (its
    registry entry's)."""
    env = os.environ if env is None else env
    name = f"BACKFILL_FRESHNESS_{source.upper()}_HOURS"
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return timedelta(hours=default_hours)
    try:
        hours = float(raw)
    except ValueError:
        raise FreshnessError(f"{name}: not a number of hours: {raw!r}") from None
    if hours <= 0:
        raise FreshnessError(f"{name}: must be positive, got {raw!r}")
    return timedelta(hours=hours)


def resolve_now(value: datetime | str | None = None, env: Mapping[str, str] | None = None) -> datetime:
    """The "now" to measure ages from: the argument, else ``BACKFILL_NOW`` (ISO 8601), else the wall clock (UTC)."""
    env = os.environ if env is None else env
    if value is None:
        value = env.get("BACKFILL_NOW") or None
    if value is None:
        return datetime.now(UTC)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise FreshnessError(f"BACKFILL_NOW: not an ISO 8601 time: {value!r}") from None
    # A naive time is read as UTC, like every other time in Backfill.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def expected_sources(env: Mapping[str, str] | None = None, registered: Iterable[str] = ()) -> list[str]:
    """Sources coverage must always list: ``BACKFILL_SOURCES`` (comma-separated) or the registered ones."""
    env = os.environ if env is None else env
    raw = env.get("BACKFILL_SOURCES")
    if not raw:
        return list(registered)
    return [s.strip().lower() for s in raw.split(",") if s.strip()]


def assess(state: SourceState, now: datetime, threshold: timedelta) -> SourceFreshness:
    """Freshness of one source at ``now``: stale when the last success is older than ``threshold``."""
    cov = state.coverage
    since_success = _hours(now - cov.last_success) if cov.last_success else None
    newest_age = _hours(now - cov.latest) if cov.latest else None
    status: Status
    if cov.last_success is None:
        status = "never"
    elif now - cov.last_success > threshold:
        status = "stale"
    else:
        status = "fresh"
    return SourceFreshness(
        source=state.source,
        status=status,
        earliest=cov.earliest,
        latest=cov.latest,
        documents=cov.documents,
        vectors=cov.vectors,
        last_success=cov.last_success,
        last_run_status=cov.last_run_status,
        hours_since_success=since_success,
        newest_item_age_hours=newest_age,
        threshold_hours=threshold.total_seconds() / 3600,
        failures=len(state.failures),
        watermark=state.watermark,
        watermark_note=state.watermark_note,
    )


def coverage_report(
    backend: StateBackend,
    now: datetime,
    sources: Iterable[str] | None = None,
    env: Mapping[str, str] | None = None,
    registered: Mapping[str, float] | None = None,
) -> CoverageReport:
    """Coverage of ``sources`` (default: the expected sources plus every source the backend knows).

    ``registered``: each registered source's default threshold in hours (connectors/registry.py).
    """
    defaults = dict(registered or {})
    names = list(sources) if sources else sorted(set(expected_sources(env, defaults)) | set(backend.sources()))
    rows = [
        assess(backend.load(name), now, threshold_for(name, env, defaults.get(name, FALLBACK_THRESHOLD_HOURS)))
        for name in names
    ]
    return CoverageReport(now=now, sources=rows)


def render_markdown(report: CoverageReport) -> str:
    """The "Current Data Coverage" table as markdown, with the stale sources spelled out above it."""
    lines = ["# Current Data Coverage", "", f"As of {_fmt_time(report.now)} UTC.", ""]
    if report.stale:
        lines += ["**Stale:** " + "; ".join(r.reason() for r in report.sources if r.status == "stale"), ""]
    never = [r.source for r in report.sources if r.status == "never"]
    if never:
        lines += ["**No verified run yet:** " + ", ".join(never), ""]
    lines += [
        "| Source | Status | Earliest | Latest | Documents | Vectors | Last success | Since success | "
        "Newest item age | Threshold | Failures | Watermark |",
        "|---|---|---|---|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for row in report.sources:
        lines.append(
            f"| {row.source} | {row.status} | {_fmt_time(row.earliest)} | {_fmt_time(row.latest)} | "
            f"{row.documents:,} | {row.vectors:,} | {_fmt_time(row.last_success)} | "
            f"{_fmt_hours(row.hours_since_success)} | {_fmt_hours(row.newest_item_age_hours)} | "
            f"{row.threshold_hours:g}h | {row.failures} | {_fmt_time(row.watermark)} |"
        )
    return "\n".join(lines) + "\n"


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 2)


def _fmt_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "—"


def _fmt_hours(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 24:.1f}d" if value >= 48 else f"{value:.1f}h"
