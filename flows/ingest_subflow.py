"""The ingest subflow every source shares: documents from a spool file → verified vectors, one task per batch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from core.report import RunSummary
from core.settings import load_settings
from flows.artifacts import ProgressArtifact, publish_run_report
from flows.progress import notify_progress
from flows.secret_env import load_secret_env
from ingest.errors import IngestError
from ingest.factory import build_embedder, build_store
from ingest.jsonl import read_documents
from ingest.pipeline import IngestOptions, IngestReport, run_ingest

__all__ = ["ingest_subflow"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _as_task(name: str, fn: _F) -> _F:
    """Run one ingest step (a whole batch, never an item) as a Prefect task, so the UI shows each batch."""
    # Steps take live clients (embedder, store): no caching, no persisted result; resume comes from the
    # store's content hashes, which make a rerun skip every chunk already written.
    return task(fn, name=name, cache_policy=NO_CACHE, persist_result=False)  # type: ignore[return-value]


@flow(name="ingest", flow_run_name="ingest-{source}", validate_parameters=True)
def ingest_subflow(
    spool: str,
    source: str,
    total_documents: int | None = None,
    dry_run: bool = False,
    max_tokens: int | None = None,
) -> dict[str, Any]:
    """Chunk, embed, upsert and verify the documents in ``spool`` (a JSON-lines file of Documents)."""
    load_secret_env()  # tokens from Secret blocks at run time: the deployment stores none
    settings = load_settings()
    embedder = build_embedder(settings)
    store = build_store(settings, embedder.dimensions)
    progress = ProgressArtifact(source, "ingest", total_documents)
    options = IngestOptions(dry_run=dry_run, max_tokens=max_tokens, label=source)

    def on_progress(report: IngestReport) -> None:
        progress.update(report.documents)
        if total_documents:
            notify_progress(f"{source}: embedding + writing", report.documents, total_documents)

    try:
        report = run_ingest(read_documents(Path(spool)), embedder, store, options, progress=on_progress, step=_as_task)
    except IngestError as exc:
        failed = getattr(exc, "report", None)
        publish_run_report(source, RunSummary.failed(str(exc), asdict(failed) if failed else None))
        raise
    progress.complete()
    summary = RunSummary.model_validate(asdict(report))
    publish_run_report(source, summary)
    return summary.as_dict()
