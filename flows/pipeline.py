"""The pipeline every source run follows: plan → fetch partitions (cached, resumable) → ingest → verify → commit.

Fetching is one task per partition whose persisted result is keyed by the partition itself
(``INPUTS + TASK_SOURCE``: no client object in the inputs), so a rerun after a crash gets finished partitions back
as ``Cached`` and fetches only the rest. The watermark and coverage move only after the ingest subflow has read
back every written vector.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import INPUTS, TASK_SOURCE
from prefect.futures import PrefectFuture

from backfill.planning import RunParams, plan_window
from backfill.settings import Settings, load_settings
from backfill.state import PendingRun, SourceState
from connectors.base import FetchFailure, Partition, Window
from connectors.errors import TransientError
from connectors.http import request_counts, requests_since
from connectors.registry import make_connector
from flows.artifacts import ProgressArtifact, publish_run_report
from flows.ingest_subflow import ingest_subflow
from flows.progress import notify_progress
from flows.runtime import result_storage, state_backend
from flows.secret_env import load_secret_env
from ingest.document import Document, doc_id_of_chunk
from ingest.factory import build_embedder, build_store

__all__ = ["FailuresRecorded", "run_name", "run_source"]

RESUME_WITHIN = timedelta(hours=24)


class FailuresRecorded(RuntimeError):
    """Some records could not be mapped: everything else landed and the watermark moved, but someone must look."""


@task(
    name="fetch-partition",
    task_run_name="fetch {source} {partition[start]}..{partition[end]}",
    cache_policy=INPUTS + TASK_SOURCE,
    cache_expiration=timedelta(days=7),
    persist_result=True,
    result_serializer="json",
    cache_result_in_memory=False,
    retries=2,
    retry_delay_seconds=[2, 10],
    # The HTTP layer already retried each request; a partition is retried whole only when the service kept
    # failing transiently. Auth and malformed responses are not going to heal in ten seconds.
    retry_condition_fn=lambda _task, _run, state: isinstance(_exception_of(state), TransientError),
)
def fetch_partition(source: str, partition: dict[str, Any]) -> dict[str, Any]:
    """Every item of one partition as JSON-ready documents and failures. Cached by (source, partition)."""
    connector = make_connector(source, load_settings())
    documents: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    try:
        for item in connector.fetch(Partition.model_validate(partition)):
            if isinstance(item, FetchFailure):
                failures.append({"id": item.id, "reason": item.reason})
            else:
                documents.append(item.model_dump(mode="json"))
    finally:
        connector.close()
    return {"documents": documents, "failures": failures}


def _exception_of(state: Any) -> BaseException | None:
    try:
        state.result()
    except BaseException as exc:
        return exc
    return None


def run_name(source: str) -> Callable[[], str]:
    """A flow-run name that says what the run covers: ``jira-full``, ``jira-3d``, ``jira-since-2026-01-01``,
    ``jira-incremental``."""

    def name() -> str:
        from prefect.runtime import flow_run

        params = flow_run.parameters or {}
        if params.get("full"):
            return f"{source}-full"
        if params.get("days_back"):
            return f"{source}-{params['days_back']}d"
        if params.get("since"):
            return f"{source}-since-{params['since']}"
        return f"{source}-incremental"

    return name


def run_source(
    source: str,
    params: RunParams,
    filters: dict[str, Any],
    overlap: timedelta,
) -> dict[str, Any]:
    """One source run inside a Prefect flow. Returns the run summary; raises (so the run Fails) on any doubt."""
    logger = get_run_logger()
    load_secret_env()  # tokens from Secret blocks at run time: the deployment stores none
    settings = load_settings()
    backend = state_backend(settings)
    state = backend.load(source)
    now = datetime.now(UTC)
    requests_before = request_counts()
    start, until, why = _plan(state, params, filters, now, overlap)
    backend.save(state)  # the pending window is durable before the first partition is fetched

    connector = make_connector(source, settings)
    try:
        connector.check()  # a rejected token fails here, before any partition is planned or fetched
        partitions = connector.partitions(Window(start=start, end=until), **filters)
        retry = getattr(connector, "retry_partition", None)
        if state.failures and retry is not None:
            # Records that failed before are fetched again first, whatever the window: nothing is skipped for good.
            partitions.insert(0, retry([f.id for f in state.failures], until))
    finally:
        connector.close()
    logger.info("%s: window %s → %s (%s), %d partitions", source, start, until, why, len(partitions))

    spool, documents, failures, newest, oldest = _fetch_to_spool(settings, source, partitions, params)
    try:
        summary = ingest_subflow(spool=str(spool), source=source, total_documents=documents)
    finally:
        spool.unlink(missing_ok=True)

    vectors, stored_documents = _stored_counts(settings, source, state, params, summary)
    # The watermark is the newest item *the source* reported (its clock, not ours), so clock skew between
    # Backfill and the source can neither skip nor repeat items beyond the overlap.
    if newest is not None:
        state.commit(window_end=newest, earliest=oldest, latest=newest, documents=stored_documents, vectors=vectors)
    else:
        state.coverage.vectors, state.coverage.documents = vectors, stored_documents
        state.coverage.last_success = now
        state.pending = None
    state.record_failures([(f["id"], f["reason"]) for f in failures], now)
    state.coverage.last_run_status = "failed" if failures else "verified"
    backend.save(state)
    summary = {
        **summary,
        "partitions": len(partitions),
        "failures": len(failures),
        "window": [start, until],
        # source API requests this run made (cached partitions make none), per endpoint
        "requests": requests_since(requests_before),
    }
    publish_run_report(source, summary)
    if failures:
        sample = ", ".join(f"{f['id']} ({f['reason']})" for f in failures[:5])
        raise FailuresRecorded(f"{source}: {len(failures)} record(s) could not be mapped: {sample}")
    return summary


def _plan(
    state: SourceState, params: RunParams, filters: dict[str, Any], now: datetime, overlap: timedelta
) -> tuple[datetime, datetime, str]:
    """The run's window; a resumed run reuses the crashed run's exact window so its partitions hit the cache."""
    key = json.dumps({**params.model_dump(mode="json", exclude={"resume"}), **filters}, sort_keys=True)
    pending = state.pending
    # Only a recent crash is resumed: an old pending window would hold a scheduled sync back in the past.
    if params.resume and pending is not None and pending.key == key and now - pending.until < RESUME_WITHIN:
        return pending.start, pending.until, f"resuming the unfinished run of {pending.until.isoformat()}"
    start, until, why = plan_window(params, state.watermark, now, overlap)
    state.pending = PendingRun(key=key, start=start, until=until)
    return start, until, why


def _fetch_to_spool(
    settings: Settings, source: str, partitions: list[Partition], params: RunParams
) -> tuple[Path, int, list[dict[str, str]], datetime | None, datetime | None]:
    """Fetch every partition (bounded concurrency) and stream the documents, in partition order, to a spool file."""
    fetch = fetch_partition.with_options(result_storage=result_storage(settings), refresh_cache=not params.resume)
    futures: list[PrefectFuture[dict[str, Any]]] = [fetch.submit(source, p.model_dump(mode="json")) for p in partitions]
    progress = ProgressArtifact(source, "fetch", len(partitions))
    fd, name = tempfile.mkstemp(prefix=f"{source}-", suffix=".jsonl", dir=_spool_dir(settings))
    os.close(fd)
    spool = Path(name)
    count, failures = 0, []
    newest: datetime | None = None
    oldest: datetime | None = None
    try:
        with spool.open("w", encoding="utf-8") as out:
            # Resolve every future, in order: an unresolved failed future would let the flow "complete".
            for done, future in enumerate(futures, start=1):
                result = future.result()
                for raw in result["documents"]:
                    doc = Document.model_validate(raw)
                    newest = max(filter(None, [newest, doc.updated_at]))
                    oldest = min(filter(None, [oldest, doc.updated_at]))
                    out.write(doc.model_dump_json() + "\n")
                    count += 1
                failures.extend(result["failures"])
                progress.update(done)
                notify_progress(f"{source}: fetching partitions", done, len(futures))
    except BaseException:
        for future in futures:
            future.wait()  # let in-flight partitions finish and cache, so the rerun skips them
        spool.unlink(missing_ok=True)
        raise
    progress.complete()
    return spool, count, failures, newest, oldest


def _spool_dir(settings: Settings) -> Path:
    path = (settings.backfill_home / "spool").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _stored_counts(
    settings: Settings, source: str, state: SourceState, params: RunParams, summary: dict[str, Any]
) -> tuple[int, int]:
    """Vectors and documents under the source's prefix for the coverage record.

    Counting means listing every id (one Pinecone request per 100 vectors: thousands on a large index), so a
    verified run that wrote and deleted nothing keeps the counts the last listing found: the store holds what
    it held then. Any change, and every full run, counts again from the store itself.
    """
    changed = bool(summary.get("upserted") or summary.get("deleted"))
    if not changed and not params.full and state.coverage.last_success is not None:
        return state.coverage.vectors, state.coverage.documents
    return _count_stored(settings, source)


def _count_stored(settings: Settings, source: str) -> tuple[int, int]:
    """Vectors and distinct documents under the source's id prefix, read from the store itself."""
    embedder = build_embedder(settings)
    store = build_store(settings, embedder.dimensions)
    vectors, docs = 0, set()
    for vector_id in store.list_ids(f"{source}:"):
        vectors += 1
        docs.add(doc_id_of_chunk(vector_id))
    return vectors, len(docs)
