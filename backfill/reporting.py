"""Terminal rendering of run summaries (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from core.report import RunSummary

__all__ = ["print_summary"]


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
    if summary.error:
        console.print(f"[red]{summary.error}[/]", highlight=False)
