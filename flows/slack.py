"""Slack backfill: threads and per-day channel messages → verified vectors."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from connectors.slack import DEFAULT_THREAD_LOOKBACK_DAYS
from core.planning import RunParams
from flows.pipeline import run_name, run_source
from flows.progress import forwarded_logs

__all__ = ["slack_backfill"]


@flow(
    name="slack-backfill",
    flow_run_name=run_name("slack"),
    task_runner=ThreadPoolTaskRunner(max_workers=4),
    timeout_seconds=12 * 3600,  # under the non-Marketplace limit (1 request/min) a large workspace takes hours
)
def slack_backfill(
    days_back: Annotated[int | None, Field(ge=1, le=36500, description="Messages of the last N days.")] = None,
    since: Annotated[date | None, Field(description="Messages since this date (UTC).")] = None,
    full: Annotated[bool, Field(description="The whole history of the selected channels.")] = False,
    channels: Annotated[
        list[str] | None, Field(description="Channel names or ids to include (default: every channel the bot sees).")
    ] = None,
    include_archived: Annotated[
        bool, Field(description="Also archived channels (read if the bot is in them).")
    ] = False,
    thread_lookback_days: Annotated[
        int,
        Field(ge=0, le=3650, description="Re-scan threads started this many days before the window for late replies."),
    ] = DEFAULT_THREAD_LOOKBACK_DAYS,
    resume: Annotated[bool, Field(description="Reuse partitions a crashed run already fetched.")] = True,
) -> dict[str, Any]:
    """Fetch Slack threads and channel days changed in the window, ingest them, verify every vector, then advance
    the watermark. With no window parameter the run is incremental from the stored watermark."""
    params = RunParams(days_back=days_back, since=since, full=full, resume=resume)
    filters = {
        "channels": sorted(channels) if channels else None,
        "include_archived": include_archived,
        "thread_lookback_days": thread_lookback_days,
    }
    with forwarded_logs("connectors.slack"):  # progress under the non-Marketplace limit reaches the terminal
        return run_source("slack", params, filters)
