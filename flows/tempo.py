"""Tempo backfill: worklogs (with their Jira issue key and summary) → verified vectors."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from core.planning import RunParams
from flows.pipeline import run_name, run_source

__all__ = ["tempo_backfill"]


@flow(
    name="tempo-backfill",
    flow_run_name=run_name("tempo"),
    task_runner=ThreadPoolTaskRunner(max_workers=4),
    timeout_seconds=3 * 3600,
)
def tempo_backfill(
    days_back: Annotated[int | None, Field(ge=1, le=36500, description="Worklogs updated in the last N days.")] = None,
    since: Annotated[date | None, Field(description="Worklogs updated since this date (UTC).")] = None,
    full: Annotated[bool, Field(description="Every worklog Tempo holds.")] = False,
    resume: Annotated[bool, Field(description="Reuse partitions a crashed run already fetched.")] = True,
) -> dict[str, Any]:
    """Fetch Tempo worklogs updated in the window, resolve their Jira keys, ingest, verify, advance the watermark."""
    params = RunParams(days_back=days_back, since=since, full=full, resume=resume)
    return run_source("tempo", params, {})
