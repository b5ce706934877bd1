"""Operations commands: ``backfill status`` and ``backfill alerts setup``.

Registered by backfill/cli.py::

    app.command()(status)
    app.add_typer(alerts_app, name="alerts")
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from core.freshness import CoverageReport, FreshnessError, coverage_report, resolve_now
from core.settings import SettingsError, load_settings

__all__ = ["alerts_app", "print_coverage", "setup", "status"]

alerts_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Prefect blocks and alert automations.")
_err = Console(stderr=True)

_STATUS_STYLE = {"fresh": "green", "stale": "bold red", "never": "yellow"}


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object {sources, stale}.")] = False,
) -> None:
    """Per-source coverage and freshness. Exit code 1 when any source is stale.

    Ages are measured from now, or from BACKFILL_NOW (ISO 8601) when set.
    """
    from connectors.registry import freshness_defaults
    from flows.runtime import state_backend  # Prefect import only when the command runs

    try:
        settings = load_settings()
        report = coverage_report(state_backend(settings), resolve_now(), registered=freshness_defaults())
    except (SettingsError, FreshnessError) as exc:
        _err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    if as_json:
        sys.stdout.write(json.dumps(report.as_json()) + "\n")
    else:
        print_coverage(report)
    if report.stale:
        raise typer.Exit(1)


def print_coverage(report: CoverageReport, console: Console | None = None) -> None:
    """The "Current Data Coverage" table, then one line per stale or never-run source."""
    console = console or Console()
    table = Table(title="Current Data Coverage")
    for column in ("source", "status", "earliest", "latest", "documents", "vectors", "last success"):
        table.add_column(column, justify="right" if column in {"documents", "vectors"} else "left")
    for column in ("since success", "newest item age", "threshold", "failures"):
        table.add_column(column, justify="right")
    table.add_column("watermark")
    for row, cells in zip(report.sources, report.table_rows(), strict=True):
        style = _STATUS_STYLE[row.status]
        table.add_row(
            row.source,
            f"[{style}]{row.status}[/]",
            str(cells["earliest"]),
            str(cells["latest"]),
            f"{row.documents:,}",
            f"{row.vectors:,}",
            str(cells["last_success"]),
            str(cells["hours_since_success"]),
            str(cells["newest_item_age_hours"]),
            f"{row.threshold_hours:g}h",
            str(row.failures),
            str(cells["watermark"]),
        )
    console.print(table)
    for row in report.sources:
        if row.status != "fresh":
            console.print(f"[{_STATUS_STYLE[row.status]}]{escape(row.reason())}[/]", highlight=False)
        if row.watermark_note.startswith("held"):
            # An ad-hoc or filtered run left the watermark where it was: say so, it explains the next run's window.
            console.print(f"[yellow]{escape(row.source)}: watermark {escape(row.watermark_note)}[/]", highlight=False)


@alerts_app.command("setup")
def setup(
    as_json: Annotated[bool, typer.Option("--json", help="Print what was done as JSON.")] = False,
) -> None:
    """Create or update the results bucket, Secret and Slack blocks and the alert automations (idempotent).

    Everything is validated first (settings, SLACK_WEBHOOK_URL, freshness thresholds, bucket settings): on any
    error nothing is written and the exit code is 2. Automations are updated in place and keep their ids.
    """
    from flows.alerts import AlertSetupError, setup_alerts

    try:
        done = setup_alerts(load_settings())
    except (SettingsError, AlertSetupError) as exc:
        _err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    if as_json:
        sys.stdout.write(json.dumps(done) + "\n")
        return
    console = Console()
    for part in ("blocks", "secrets"):
        console.print(f"[bold]{part}:[/] {escape(', '.join(done[part])) or '—'}", highlight=False)
    changes = done["automation_changes"]
    automations = ", ".join(f"{name} ({changes[name]})" for name in done["automations"])
    console.print(f"[bold]automations:[/] {escape(automations) or '—'}", highlight=False)
    for note in done["notes"]:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
