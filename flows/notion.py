"""Notion backfill: pages and database rows (title, properties, every block's text) → verified vectors."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from core.planning import RunParams
from flows.pipeline import run_name, run_source

__all__ = ["notion_backfill"]


@flow(
    name="notion-backfill",
    flow_run_name=run_name("notion"),
    task_runner=ThreadPoolTaskRunner(max_workers=4),
    timeout_seconds=6 * 3600,
)
def notion_backfill(
    days_back: Annotated[int | None, Field(ge=1, le=36500, description="Pages edited in the last N days.")] = None,
    since: Annotated[date | None, Field(description="Pages edited since this date (UTC).")] = None,
    full: Annotated[
        bool,
        Field(description="Every page shared with the integration (also walks the page tree: search misses some)."),
    ] = False,
    resume: Annotated[bool, Field(description="Reuse partitions a crashed run already fetched.")] = True,
) -> dict[str, Any]:
    """Fetch Notion pages edited in the window with their blocks, ingest, verify, advance the watermark.

    With no window parameter the run is incremental from the stored watermark (a first run fetches everything).
    """
    params = RunParams(days_back=days_back, since=since, full=full, resume=resume)
    return run_source("notion", params, {})
