"""Planning a source run's window ``[since, until)`` from parameters or the stored watermark."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, Field

__all__ = ["FULL_HISTORY_START", "RunParams", "plan_window"]

# "Full" means everything the source holds; sources older than this are not a real concern for a KB.
FULL_HISTORY_START = datetime(2000, 1, 1, tzinfo=UTC)


class RunParams(BaseModel):
    """How far back a run reaches. At most one of ``days_back``, ``since`` and ``full`` should be given."""

    days_back: int | None = Field(default=None, ge=1, le=36_500, description="Fetch items updated this many days back.")
    since: date | datetime | None = Field(default=None, description="Fetch items updated since this date (UTC).")
    full: bool = Field(default=False, description="Fetch the source's whole history.")
    resume: bool = Field(default=True, description="Reuse partitions a crashed run already fetched.")


def _aware(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def plan_window(
    params: RunParams, watermark: datetime | None, now: datetime, overlap: timedelta
) -> tuple[datetime, datetime, str]:
    """The window to fetch and why: explicit parameters first, then the watermark minus an overlap.

    With no parameters and no watermark (a first run), the whole history is fetched: a scheduled sync on a fresh
    index must make it complete, not quietly cover the last day only.
    """
    given = [name for name in ("days_back", "since") if getattr(params, name) is not None] + (
        ["full"] if params.full else []
    )
    if len(given) > 1:
        raise ValueError(f"give at most one of days_back, since, full (got {', '.join(given)})")
    if params.full:
        return FULL_HISTORY_START, now, "full"
    if params.days_back is not None:
        return now - timedelta(days=params.days_back), now, f"days_back={params.days_back}"
    if params.since is not None:
        start = _aware(params.since)
        if start >= now:
            raise ValueError(f"since={start.isoformat()} is not in the past")
        return start, now, f"since={start.date().isoformat()}"
    if watermark is None:
        return FULL_HISTORY_START, now, "first run: full history"
    return min(watermark - overlap, now - overlap), now, f"incremental from watermark {watermark.isoformat()}"
