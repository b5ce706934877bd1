"""Jira backfill: issues (summary, description, every comment) → verified vectors."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from core.planning import RunParams
from flows.pipeline import run_name, run_source

__all__ = ["jira_backfill"]


@flow(
    name="jira-backfill",
    flow_run_name=run_name("jira"),
    task_runner=ThreadPoolTaskRunner(max_workers=4),
    timeout_seconds=6 * 3600,
)
def jira_backfill(
    days_back: Annotated[int | None, Field(ge=1, le=36500, description="Issues updated in the last N days.")] = None,
    since: Annotated[date | None, Field(description="Issues updated since this date (UTC).")] = None,
    full: Annotated[bool, Field(description="The whole history of the selected projects.")] = False,
    projects: Annotated[list[str] | None, Field(description="Project keys to include (default: all).")] = None,
    active_only: Annotated[bool, Field(description="Skip archived projects.")] = True,
    resume: Annotated[bool, Field(description="Reuse partitions a crashed run already fetched.")] = True,
) -> dict[str, Any]:
    """Fetch Jira issues updated in the window, ingest them, verify every vector, then advance the watermark.

    With no window parameter the run is incremental from the stored watermark (a first run fetches everything).
    """
    params = RunParams(days_back=days_back, since=since, full=full, resume=resume)
    filters = {"projects": sorted(projects) if projects else None, "active_only": active_only}
    return run_source("jira", params, filters)
