"""The ``backfill`` command line. Thin: each command parses options, calls a library function, prints, exits.

Exit code 0 only when everything the command claims was verified.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from backfill import commands_ops
from backfill.prefect_server import PrefectServerError, prefect_api_for_command
from connectors.registry import SOURCES, SourceSpec
from core.report import RunSummary
from core.settings import SettingsError

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a clear error (never a traceback for expected failures) and return the exit to raise."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _with_prefect_api(command: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command that always talks to Prefect under one Prefect API (PREFECT_API_URL or one temporary server)."""

    @functools.wraps(command)  # typer reads the options from the wrapped signature
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with prefect_api_for_command():
                return command(*args, **kwargs)
        except PrefectServerError as exc:
            raise fail(str(exc), code=2) from None

    return wrapper


def _alerts_app() -> typer.Typer:
    """``backfill alerts``: commands_ops's group, each command under one Prefect API."""
    group = typer.Typer(no_args_is_help=True, add_completion=False, help=commands_ops.alerts_app.info.help)
    for info in commands_ops.alerts_app.registered_commands:
        wrapped = copy.copy(info)
        wrapped.callback = _with_prefect_api(info.callback) if info.callback else None
        group.registered_commands.append(wrapped)
    return group


# `status` reaches Prefect only for a BACKFILL_RESULTS_BLOCK (production, where PREFECT_API_URL is set): starting a
# temporary server for every local `status` would cost seconds for nothing, so it is registered as it is.
app.command()(commands_ops.status)
app.add_typer(_alerts_app(), name="alerts")


@app.command()
def sandbox(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = any free port).")] = 8765,
    scale: Annotated[float, typer.Option(help="Corpus size; 1.0 = 72 Jira projects, 7,556 issues.")] = 0.01,
    seed: Annotated[int, typer.Option(help="Corpus seed; the same seed gives byte-identical responses.")] = 42,
    faults: Annotated[str, typer.Option(help="Fault profile: none, realistic, flaky, hostile.")] = "none",
) -> None:
    """Serve local replicas of every API and print the environment to export."""
    from sandbox.server import run_cli

    run_cli(port=port, scale=scale, seed=seed, profile=faults)


def _print_json(payload: object) -> None:
    sys.stdout.write(json.dumps(payload, default=str, indent=None) + "\n")


def _print_run_summary(summary: RunSummary, as_json: bool) -> None:
    """A run's summary as one JSON object (``--json``) or as the terminal table."""
    if as_json:
        _print_json(summary.as_dict())
        return
    from backfill.reporting import print_summary

    print_summary(summary)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    source: Annotated[str | None, typer.Option(help="Only this source (jira, tempo, ...).")] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=100, help="How many results.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    principal: Annotated[
        str | None,
        typer.Option("--as", help="Search as this principal: only what its grants (BACKFILL_GRANTS_FILE) may see."),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            help="Only chunks whose metadata FIELD holds VALUE (repeatable; true/false for flags), e.g. "
            "--where channel_name=ops, --where channel_private=true, --where parent_id=<page id>.",
        ),
    ] = None,
) -> None:
    """Semantic search over the index."""
    from backfill.searching import parse_where, search_index

    try:
        conditions = parse_where(where or [])
        hits = search_index(query, source=source, top_k=top_k, principal=principal, where=conditions or None)
    except (SettingsError, ValueError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        _print_json(hits)
        return
    from rich.table import Table

    table = Table("score", "source", "title", "url", title=f"top {top_k} for {query!r}")
    for hit in hits:
        table.add_row(f"{hit['score']:.3f}", hit["source"], hit["title"], hit["url"])
    Console().print(table)


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON-lines file of Documents.")],
    dry_run: Annotated[bool, typer.Option(help="Count tokens and estimated cost; embed and write nothing.")] = False,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Stop cleanly before spending more tokens.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run summary as one JSON object.")] = False,
) -> None:
    """Ingest documents from a JSON-lines file: chunk, embed, upsert, verify."""
    from backfill.running import ingest_file
    from ingest.jsonl import JsonlError

    try:
        summary = ingest_file(file, dry_run=dry_run, max_tokens=max_tokens, progress=not as_json)
    except (SettingsError, JsonlError, PrefectServerError) as exc:
        raise fail(str(exc), code=2) from None
    _print_run_summary(summary, as_json)
    if summary.status not in {"verified", "dry_run", "budget_stopped"}:
        raise typer.Exit(1)


run_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Run one source: plan → fetch → ingest → verify → commit. Exits non-zero unless everything verified.",
)
app.add_typer(run_app, name="run")


def _run_source_command(spec: SourceSpec) -> Callable[..., None]:
    """``backfill run <source>``: the common window options plus the source's own (from its registry entry)."""

    def command(
        days_back: int | None, since: str | None, full: bool, no_resume: bool, as_json: bool, **given: Any
    ) -> None:
        from backfill.running import run_source_flow

        filters = {option.param: option.value(given[option.param]) for option in spec.filters}
        try:
            summary = run_source_flow(
                spec.name, days_back=days_back, since=since, full=full, resume=not no_resume, filters=filters,
                progress=not as_json,
            )  # fmt: skip
        except (SettingsError, ValueError, PrefectServerError) as exc:
            raise fail(str(exc), code=2) from None
        _print_run_summary(summary, as_json)
        if summary.status != "verified":
            raise typer.Exit(1)

    what = spec.what
    common = [
        _option("days_back", int | None, None, typer.Option(min=1, help=f"{what.title()} updated in the last N days.")),
        _option("since", str | None, None, typer.Option(help=f"{what.title()} updated since YYYY-MM-DD (UTC).")),
        _option("full", bool, False, typer.Option(help=f"Every one of the source's {what}.")),
        _option("no_resume", bool, False, typer.Option("--no-resume", help="Refetch partitions a crashed run cached.")),
        _option("as_json", bool, False, typer.Option("--json", help="Print the run summary as one JSON object.")),
    ]  # fmt: skip
    own = [
        _option(o.param, list[str] | None, None, typer.Option(o.option, help=o.help))
        if o.repeatable
        else _option(o.param, int | None, None, typer.Option(o.option, min=0, help=o.help))
        if o.integer
        else _option(o.param, bool, False, typer.Option(o.option, help=o.help))
        for o in spec.filters
    ]
    command.__signature__ = inspect.Signature([*common, *own])  # type: ignore[attr-defined]
    command.__doc__ = f"Run {spec.display}: plan → fetch → ingest → verify → commit."
    return command


def _option(name: str, kind: Any, default: Any, info: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[kind, info])


for _spec in SOURCES.values():
    run_app.command(_spec.name)(_run_source_command(_spec))


prune_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Delete from the index what a source no longer has. Refuses (exit 1) when its listing failed or when it "
    "would delete more than BACKFILL_PRUNE_MAX_SHARE of the source's documents, unless --force.",
)
app.add_typer(prune_app, name="prune")


def _prune_source_command(spec: SourceSpec) -> Callable[..., None]:
    """``backfill prune <source>``."""

    def command(
        dry_run: Annotated[bool, typer.Option(help="Report what would be deleted; delete nothing.")] = False,
        force: Annotated[bool, typer.Option(help="Delete past the threshold (never past a failed listing).")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the prune summary as one JSON object.")] = False,
    ) -> None:
        from backfill.running import prune_source_flow

        try:
            summary = prune_source_flow(spec.name, dry_run=dry_run, force=force)
        except (SettingsError, ValueError, PrefectServerError) as exc:
            raise fail(str(exc), code=2) from None
        if as_json:
            _print_json(summary.as_dict())
        else:
            from backfill.reporting import print_prune_summary

            print_prune_summary(summary)
        if summary.status not in {"pruned", "dry_run"}:
            raise typer.Exit(1)

    command.__doc__ = f"Delete {spec.display} {spec.what} that are gone at the source from the index (verified)."
    return command


for _spec in SOURCES.values():
    prune_app.command(_spec.name)(_prune_source_command(_spec))


@app.command()
def demo(
    scale: Annotated[float, typer.Option(help="Sandbox corpus size (the default fits the 5-minute budget).")] = 0.02,
) -> None:
    """Run every source against the local sandbox into LanceDB with the local model, then show coverage and search."""
    from backfill.demo import run_demo

    # Wide enough for the coverage table even when stdout is not a terminal (CI logs, `make demo | tee`).
    try:
        result = run_demo(Console(width=max(Console().width, 150)), scale=scale)
    except PrefectServerError as exc:
        raise fail(str(exc), code=2) from None
    if not result["ok"]:
        raise fail("the demo did not verify every source (see above)")


bench_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Benchmarks that print figures.")
app.add_typer(bench_app, name="bench")


@bench_app.command("ingest")
def bench_ingest(
    docs: Annotated[int, typer.Option(min=1, help="Synthetic documents to ingest.")] = 10_000,
    dimensions: Annotated[int, typer.Option(min=8, max=3072, help="Embedding dimensions.")] = 1536,
    batch_docs: Annotated[int | None, typer.Option(min=1, help="Documents per pipeline batch.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
) -> None:
    """Ingest synthetic documents through the OpenAI and Pinecone simulators; print docs/s, chunks/s, requests
    against the minimum the batch limits allow, tokens and peak RSS."""
    from backfill.bench import bench_ingest as run_bench
    from backfill.bench import print_bench

    result = run_bench(docs, dimensions=dimensions, batch_docs=batch_docs)
    if as_json:
        _print_json(result)
    else:
        print_bench(result)
    if result.get("status") != "verified":
        raise typer.Exit(1)


@bench_app.command("sandbox")
def bench_sandbox(
    scale: Annotated[float, typer.Option(help="Corpus size; 1.0 = 72 Jira projects, 7,556 issues.")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
) -> None:
    """Time the sandbox's start (target < 3 s at scale 1) and its first pages."""
    from backfill.bench_sandbox import bench_sandbox as run_bench
    from backfill.bench_sandbox import print_sandbox_bench

    result = run_bench(scale)
    if as_json:
        _print_json(result)
    else:
        print_sandbox_bench(result)
