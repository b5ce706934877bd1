"""What the CLI's long-running commands call: validate everything first, then run the flow, return a summary."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from backfill.prefect_server import prefect_api_for_command
from core.report import PruneSummary, RunSummary
from core.settings import load_settings
from ingest.errors import IngestError
from ingest.jsonl import validate_file

__all__ = ["ingest_file", "load_flow", "prune_source_flow", "run_source_flow"]


def ingest_file(
    path: Path, *, dry_run: bool = False, max_tokens: int | None = None, progress: bool = False
) -> RunSummary:
    """Ingest a JSON-lines file through the ingest flow. Returns the run summary; status says if it verified.

    Settings and every line of the file are validated before the flow starts, so bad input writes nothing.
    Raises ``PrefectServerError`` when there is no Prefect API and the temporary server cannot start.
    """
    load_settings()
    total = validate_file(path)
    from flows.ingest_subflow import ingest_subflow  # imported late: Prefect is slow to import and not needed to fail
    from flows.progress import PROGRESS_LISTENERS

    # One Prefect API for the run, started only now that the input is known good (PrefectServerError if none).
    with prefect_api_for_command(), _ProgressBar(enabled=progress) as bar:
        PROGRESS_LISTENERS.append(bar.update)
        try:
            summary = ingest_subflow(
                spool=str(Path(path).resolve()),
                source="jsonl",
                total_documents=total,
                dry_run=dry_run,
                max_tokens=max_tokens,
            )
            return RunSummary.model_validate(summary)
        except IngestError as exc:
            report = getattr(exc, "report", None)
            return RunSummary.failed(str(exc), asdict(report) if report else None)
        finally:
            PROGRESS_LISTENERS.remove(bar.update)


def run_source_flow(
    source: str,
    *,
    days_back: int | None = None,
    since: str | None = None,
    full: bool = False,
    resume: bool = True,
    filters: dict[str, Any] | None = None,
    progress: bool = True,
) -> RunSummary:
    """Run one registered source's flow in this process (with a terminal progress bar). Returns the summary.

    ``filters`` are the source's own flow parameters (its registry entry's ``filters``, e.g. Jira's ``projects``).
    A failure of any kind comes back as ``status: failed`` with the error text (secrets redacted upstream), except
    ``PrefectServerError``: there is no Prefect API to run the flow on, and the temporary server could not start.
    """
    from datetime import date

    from connectors.registry import source_spec

    spec = source_spec(source)  # UnknownSourceError (a ValueError) names the registered sources
    unknown = set(filters or {}) - {option.param for option in spec.filters}
    if unknown:
        raise ValueError(f"{source} has no parameter(s) {', '.join(sorted(unknown))}")
    # Missing source settings fail here, naming the variables, before Prefect starts or anything is fetched.
    spec.build(load_settings()).close()
    kwargs: dict[str, Any] = {"days_back": days_back, "full": full, "resume": resume, **(filters or {})}
    if since:
        kwargs["since"] = date.fromisoformat(since)
    from flows.progress import PROGRESS_LISTENERS

    flow = load_flow(spec.flow)
    # Reuses the caller's Prefect API (the demo's one server) or starts one; PrefectServerError if none can start.
    with prefect_api_for_command(), _ProgressBar(enabled=progress) as bar:
        PROGRESS_LISTENERS.append(bar.update)
        try:
            return RunSummary.model_validate(flow(**kwargs))
        except Exception as exc:
            report = getattr(exc, "report", None)
            return RunSummary.failed(f"{type(exc).__name__}: {exc}", asdict(report) if report else None)
        finally:
            PROGRESS_LISTENERS.remove(bar.update)


def prune_source_flow(source: str, *, dry_run: bool = False, force: bool = False) -> PruneSummary:
    """Run the prune flow for one registered source in this process. Returns its summary; ``status`` says whether
    it pruned, refused (and why) or failed. Raises ``PrefectServerError`` when no Prefect API can be had."""
    from connectors.registry import source_spec

    spec = source_spec(source)  # UnknownSourceError (a ValueError) names the registered sources
    spec.build(load_settings()).close()  # missing settings fail here, naming the variables
    from flows.prune import PruneFailed, PruneRefused, prune

    with prefect_api_for_command():
        try:
            return PruneSummary.model_validate(prune(source=source, dry_run=dry_run, force=force))
        except (PruneRefused, PruneFailed) as exc:
            return exc.summary
        except Exception as exc:
            return PruneSummary(source=source, status="failed", reason=f"{type(exc).__name__}: {exc}")


def load_flow(entrypoint: str) -> Any:
    """The flow object an entrypoint names (``flows/jira.py:jira_backfill``, as in prefect.yaml)."""
    import importlib

    path, _, name = entrypoint.partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name)


class _ProgressBar:
    """A rich progress bar (rate and ETA) over partitions fetched; silent when not enabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
            )  # fmt: skip
            self._progress.start()
        return self

    def update(self, what: str, done: int, total: int) -> None:
        if self._progress is None:
            return
        if what not in self._tasks:
            self._tasks[what] = self._progress.add_task(what, total=total)
        self._progress.update(self._tasks[what], completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
