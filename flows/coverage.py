"""The coverage flow: publish what the index holds per source, and FAIL when any source is stale.

Failing is the point: the ``backfill-coverage-stale`` automation (flows/alerts.py) turns this flow's Failed state
into a Slack message naming the stale sources, so a sync that silently stopped is noticed within the hour.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import Field

from connectors.registry import freshness_defaults
from core.freshness import coverage_report, render_markdown, resolve_now
from core.settings import load_settings
from flows.runtime import state_backend
from flows.secret_env import load_secret_env

__all__ = ["COVERAGE_FLOW_NAME", "StaleSources", "coverage"]

COVERAGE_FLOW_NAME = "backfill-coverage"


class StaleSources(RuntimeError):
    """At least one source's last verified run is older than its freshness threshold."""


@flow(name=COVERAGE_FLOW_NAME, timeout_seconds=600, retries=0)
def coverage(
    now: Annotated[
        datetime | None, Field(description="Measure ages from this time (default: now). For drills and tests.")
    ] = None,
    sources: Annotated[
        list[str] | None, Field(description="Sources to check (default: the deployed ones plus any with state).")
    ] = None,
) -> dict[str, Any]:
    """Coverage and freshness of every source, as a table and a markdown artifact; fails if any source is stale."""
    logger = get_run_logger()
    load_secret_env()  # tokens from Secret blocks at run time: the deployment stores none
    report = coverage_report(state_backend(load_settings()), resolve_now(now), sources, registered=freshness_defaults())
    create_table_artifact(key="backfill-coverage", table=report.table_rows(), description="Current Data Coverage")
    create_markdown_artifact(key="backfill-coverage-report", markdown=render_markdown(report))
    for row in report.sources:
        logger.info("%s (%s)", row.reason(), row.status)
    if report.stale:
        reasons = "; ".join(row.reason() for row in report.sources if row.status == "stale")
        raise StaleSources(f"stale sources: {', '.join(report.stale)} — {reasons}")
    return report.as_json()


if __name__ == "__main__":
    coverage()
