"""``backfill demo``: the whole product on its embedded default, offline, in a few minutes.

Starts the sandbox (every API on loopback), runs every existing source into LanceDB with the local embedder,
prints the coverage table and a few search results, and says where the data lives.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.console import Console

from backfill.prefect_server import prefect_api_for_command
from backfill.running import run_source_flow
from connectors.registry import SOURCES, SourceSpec, freshness_defaults
from core.report import RunSummary

__all__ = ["DEMO_QUERIES", "DEMO_SCALE", "run_demo"]

# ~150 Jira issues and ~240 Tempo worklogs: about a thousand chunks, which the local model embeds in well under
# the 5-minute budget on 2 cores (it does ~60 chunks/s).
DEMO_SCALE = 0.02
DEMO_QUERIES = ("checkout times out during the holiday traffic peak", "expired OAuth tokens", "Kafka rebalance")


def run_demo(console: Console | None = None, scale: float = DEMO_SCALE) -> dict[str, Any]:
    """Run the demo end to end. Returns {"runs": {source: summary}, "coverage": ..., "ok": bool}.

    Raises ``PrefectServerError`` when there is no Prefect API and the temporary server cannot start.
    """
    from sandbox.server import start_sandbox

    console = console or Console()
    os.environ.setdefault("BACKFILL_STORE", "lancedb")
    os.environ.setdefault("BACKFILL_EMBEDDER", "local")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The demo's own output (progress bars, tables) is the story; Prefect's INFO lines would bury it.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    runs: dict[str, RunSummary] = {}
    specs = demo_sources()
    # One Prefect API for every flow of the demo: PREFECT_API_URL, else one temporary server started (and waited for,
    # however slow its first start) before the first flow; each run_source_flow reuses it.
    with prefect_api_for_command(), start_sandbox(seed=42, scale=scale, profile="none") as sandbox:
        # Only the source APIs come from the sandbox: the demo embeds locally and stores in LanceDB.
        for spec in specs:
            os.environ.update({name: sandbox.env[name] for name in spec.env})
        console.rule(f"[bold]Backfill demo[/] — sandbox on {sandbox.base_url}, scale {scale}")
        for spec in specs:
            console.print(f"[bold]{spec.name}[/]: fetch → chunk → embed (local model) → LanceDB → verify")
            runs[spec.name] = run_source_flow(spec.name, progress=True)
            _print_run(console, spec.name, runs[spec.name])
        coverage = _print_coverage(console)
    _print_searches(console)
    home = Path(os.environ.get("BACKFILL_HOME", ".backfill")).resolve()
    console.print(
        f"\nData lives in [bold]{home}[/]: LanceDB vectors in {home / 'lancedb'}, source state in "
        f"{home / 'state'}, cached fetch results in {home / 'results'}."
    )
    ok = all(run.status == "verified" for run in runs.values()) and not coverage["stale"]
    return {"runs": runs, "coverage": coverage, "ok": ok}


def demo_sources() -> list[SourceSpec]:
    """The registered sources the demo runs (each entry's ``in_demo``)."""
    return [spec for spec in SOURCES.values() if spec.in_demo]


def _print_run(console: Console, source: str, summary: RunSummary) -> None:
    colour = "green" if summary.status == "verified" else "red"
    console.print(
        f"  [{colour}]{summary.status}[/]: {summary.documents} documents, {summary.chunks} chunks, "
        f"{summary.embedded} embedded, {summary.verified} verified"
        + (f"\n  [red]{summary.error}[/]" if summary.error else ""),
        highlight=False,
    )


def _print_coverage(console: Console) -> dict[str, Any]:
    from backfill.commands_ops import print_coverage
    from core.freshness import coverage_report, resolve_now
    from core.settings import load_settings
    from flows.runtime import state_backend

    names = [spec.name for spec in demo_sources()]
    report = coverage_report(
        state_backend(load_settings()), resolve_now(), sources=names, registered=freshness_defaults()
    )
    print_coverage(report, console)
    return report.as_json()


def _print_searches(console: Console) -> None:
    from backfill.searching import search_index

    for query in DEMO_QUERIES:
        console.print(f"\n[bold]search:[/] {query!r}")
        for hit in search_index(query, top_k=3):
            console.print(f"  {hit['score']:.3f}  [{hit['source']}] {hit['title']}  {hit['url']}", highlight=False)
