"""Toy backfill: the toy source's issues → verified vectors, through the shared pipeline (a thin flow)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from core.planning import RunParams
from flows.pipeline import run_name, run_source

__all__ = ["toy_backfill"]


@flow(
    name="toy-backfill",
    flow_run_name=run_name("toy"),
    task_runner=ThreadPoolTaskRunner(max_workers=4),
    timeout_seconds=3600,
)
def toy_backfill(
    days_back: Annotated[int | None, Field(ge=1, le=36500, description="Issues updated in the last N days.")] = None,
    since: Annotated[date | None, Field(description="Issues updated since this date (UTC).")] = None,
    full: Annotated[bool, Field(description="The repository's whole history.")] = False,
    resume: Annotated[bool, Field(description="Reuse partitions a crashed run already fetched.")] = True,
) -> dict[str, Any]:
    """Fetch the toy repository's issues updated in the window, ingest them, verify every vector, then commit."""
    params = RunParams(days_back=days_back, since=since, full=full, resume=resume)
    return run_source("toy", params, {})
