"""Terminal rendering of run summaries (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from core.report import PruneSummary, RunSummary

__all__ = ["print_prune_summary", "print_summary"]


def print_summary(summary: RunSummary, console: Console | None = None) -> None:
    """A two-column table of the run's counts, then its status (and error) in colour."""
    console = console or Console()
    table = Table("", "", show_header=False, box=None)
    for name, value in summary.counts().items():
        table.add_row(name, f"${value:.4f}" if name == "estimated_cost_usd" else str(value))
    console.print(table)
    status = summary.status
    colour = "green" if status in {"verified", "dry_run"} else "yellow" if status == "budget_stopped" else "red"
    console.print(f"status: [bold {colour}]{status}[/]")
    if summary.watermark_note:
        console.print(f"watermark {summary.watermark_note}", highlight=False)
    if summary.skipped:
        console.print(f"[yellow]skipped {len(summary.skipped)} scope(s) the source would not let us read:[/]")
        for line in summary.skipped:
            console.print(f"  {line}", highlight=False, soft_wrap=True)
    for note in summary.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    if summary.error:
        console.print(f"[red]{summary.error}[/]", highlight=False)


def print_prune_summary(summary: PruneSummary, console: Console | None = None) -> None:
    """A two-column table of what a prune found and did, then its status and reason in colour."""
    console = console or Console()
    table = Table("", "", show_header=False, box=None)
    shown = ("scopes", "live", "stored", "stale", "share", "max_share", "forced", "deleted_documents",
             "deleted_vectors", "verified_gone", "failures_dropped", "pending_cleared")  # fmt: skip
    for name in shown:
        table.add_row(name, str(getattr(summary, name)))
    console.print(table)
    colour = "green" if summary.status in {"pruned", "dry_run"} else "red"
    console.print(f"status: [bold {colour}]{summary.status}[/]")
    if summary.reason:
        console.print(summary.reason, highlight=False, soft_wrap=True)
    if summary.stale_sample:
        console.print("stale (sample): " + ", ".join(summary.stale_sample), highlight=False, soft_wrap=True)
