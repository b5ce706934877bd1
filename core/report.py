"""The counts of a run, in the order every report shows them (terminal, Prefect artifacts, JSON)."""

from __future__ import annotations

__all__ = ["REPORT_FIELDS"]

REPORT_FIELDS = (
    "partitions",
    "documents",
    "unique",
    "chunks",
    "unchanged",
    "embedded",
    "upserted",
    "verified",
    "deleted",
    "failures",
    "failures_resolved",
    "failures_gone",
    "withheld",
    "tokens",
    "estimated_cost_usd",
)
