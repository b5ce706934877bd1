"""The pipeline every source run follows: plan → fetch partitions (cached, resumable) → ingest → verify → commit.

Fetching is one task per partition whose persisted result is keyed by the partition itself
(``INPUTS + TASK_SOURCE``: no client object in the inputs), so a rerun after a crash gets finished partitions back
as ``Cached`` and fetches only the rest. The watermark and coverage move only after the ingest subflow has read
back every written vector.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import INPUTS, TASK_SOURCE
from prefect.events import emit_event
from prefect.futures import PrefectFuture

from connectors.base import FetchFailure, Partition, RunNote, SkippedScope, Window
from connectors.errors import TransientError
from connectors.http import request_counts, requests_since
from connectors.registry import make_connector, source_spec
from core.lease import Lease
from core.planning import FULL_HISTORY_START, RunParams, plan_window
from core.report import RunSummary
from core.settings import Settings, load_settings
from core.state import PendingRun, SourceState, StateBackend
from flows.artifacts import ProgressArtifact, publish_run_report
from flows.ingest_subflow import ingest_subflow
from flows.progress import notify_progress
from flows.runtime import result_storage, source_lease, state_backend
from flows.secret_env import load_secret_env
from ingest.document import Document, doc_id_of_chunk
from ingest.factory import build_embedder, build_store

__all__ = ["VERIFIED_EVENT", "FailuresRecorded", "fetch_code_version", "fetch_partition", "run_name", "run_source"]

RESUME_WITHIN = timedelta(hours=24)


class FailuresRecorded(RuntimeError):
    """Some records could not be mapped: everything else landed and the watermark moved, but someone must look."""


@task(
    name="fetch-partition",
    task_run_name="fetch {source} {partition[start]}..{partition[end]}",
    # The key is the partition, the run it belongs to and the fetching code: only the resumption of the same
    # run reuses a finished partition, and a changed connector or mapping never replays an old result.
    cache_policy=INPUTS + TASK_SOURCE,
    cache_expiration=RESUME_WITHIN,
    persist_result=True,
    result_serializer="json",
    cache_result_in_memory=False,
    retries=2,
    retry_delay_seconds=[2, 10],
    # The HTTP layer already retried each request; a partition is retried whole only when the service kept
    # failing transiently. Auth and malformed responses are not going to heal in ten seconds.
    retry_condition_fn=lambda _task, _run, state: isinstance(_exception_of(state), TransientError),
)
def fetch_partition(source: str, partition: dict[str, Any], run_key: str, code_version: str) -> dict[str, Any]:
    """Every item of one partition as JSON-ready documents, failures, skipped scopes and notes.

    Cached by (source, partition, run, code).
    """
    connector = make_connector(source, load_settings())
    found: dict[str, list[dict[str, Any]]] = {"documents": [], "failures": [], "skipped": [], "notes": []}
    kinds = {FetchFailure: "failures", SkippedScope: "skipped", RunNote: "notes"}
    try:
        for item in connector.fetch(Partition.model_validate(partition)):
            found[kinds.get(type(item), "documents")].append(item.model_dump(mode="json"))
    finally:
        connector.close()
    return found


def _exception_of(state: Any) -> BaseException | None:
    try:
        state.result()
    except BaseException as exc:
        return exc
    return None


@cache
def fetch_code_version(source: str | None = None) -> str:
    """A digest of the code that turns API responses into Documents: connectors/, the Document model and, for a
    source registered from elsewhere (BACKFILL_EXTRA_SOURCES), the package its registry entry comes from.

    Part of every fetch task's cache key, so a resumed run after an upgrade refetches rather than replaying
    documents mapped by the old code.
    """
    extra = [Path(inspect.getfile(source_spec(source).build)).parent] if source else []
    return code_digest(Path(__file__).resolve().parent.parent, *extra)


def code_digest(root: Path, *packages: Path) -> str:
    """The digest of ``root``'s connectors/*.py and ingest/document.py, plus every ``packages``' *.py."""
    digest = hashlib.sha256()
    files = [*sorted((root / "connectors").glob("*.py")), root / "ingest" / "document.py"]
    files += [path for package in packages for path in sorted(package.glob("*.py")) if path not in files]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


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


@dataclass
class _Fetched:
    """What the fetch stage produced: a spool of documents, the failures, and what the commit needs."""

    spool: Path
    documents: int = 0
    doc_ids: set[str] = field(default_factory=set)
    failures: list[tuple[str, str, datetime | None]] = field(default_factory=list)  # id, reason, window start
    newest: datetime | None = None
    oldest: datetime | None = None
    withheld: int = 0  # items left out of documents because not every reader may see them
    skipped: list[str] = field(default_factory=list)  # "<scope>: <reason>", each once
    notes: list[str] = field(default_factory=list)  # each once, in the order first seen

    def remember(self, skipped: list[SkippedScope], notes: list[RunNote]) -> None:
        for line in (f"{s.scope}: {s.reason}" for s in skipped):
            if line not in self.skipped:
                self.skipped.append(line)
        for note in notes:
            if note.text not in self.notes:
                self.notes.append(note.text)


def _withheld(doc: Document) -> int:
    """Items a connector kept out of ``doc`` for permissions: its ``restricted_*`` counts (e.g. Jira comments)."""
    return sum(v for k, v in doc.metadata.items() if k.startswith("restricted_") and isinstance(v, int))


def run_source(source: str, params: RunParams, filters: dict[str, Any]) -> dict[str, Any]:
    """One source run inside a Prefect flow. Returns the run summary; raises (so the run Fails) on any doubt.

    The whole run holds the source's lease (core/lease.py): a second run of the same source, from any entry
    point, waits for it (bounded by BACKFILL_LEASE_WAIT_S) and then fails naming the holder.
    """
    load_secret_env()  # tokens from Secret blocks at run time: the deployment stores none
    settings = load_settings()
    backend = state_backend(settings)
    lease = source_lease(settings, backend, source)
    with lease:
        return _run_holding_lease(source, params, filters, source_spec(source).overlap, settings, backend, lease)


def _run_holding_lease(
    source: str,
    params: RunParams,
    filters: dict[str, Any],
    overlap: timedelta,
    settings: Settings,
    backend: StateBackend,
    lease: Lease,
) -> dict[str, Any]:
    logger = get_run_logger()
    _sweep_spool(settings, source)  # no other run of this source is alive: its leftovers are garbage
    state = backend.load(source)
    now = datetime.now(UTC)
    requests_before = request_counts()
    start, until, why = _plan(state, params, filters, now, overlap)
    assert state.pending is not None
    lease.check()
    backend.save(state)  # the pending window is durable before the first partition is fetched

    asked = [f.id for f in state.failures]
    window = Window(start=start, end=until)
    connector = make_connector(source, settings)
    try:
        connector.check()  # a rejected token fails here, before any partition is planned or fetched
        # Records that failed before are read again first, whatever the window: nothing is skipped for good.
        partitions = connector.refetch_partitions(asked, state.failure_window_start(), window) if asked else []
        partitions += connector.partitions(window, **filters)
    finally:
        connector.close()
    logger.info(
        "%s: window %s → %s (%s), %d partitions, %d earlier failure(s) re-read",
        source, start, until, why, len(partitions), len(asked),
    )  # fmt: skip

    fetched = _fetch_to_spool(settings, source, partitions, params, state.pending.run_key)
    try:
        ingested = ingest_subflow(spool=str(fetched.spool), source=source, total_documents=fetched.documents)
    finally:
        fetched.spool.unlink(missing_ok=True)

    vectors, stored_documents = _stored_counts(settings, source, state, params, ingested)
    covers, note = state.covers_from_watermark(start, scoped=_is_scoped(filters), history_start=FULL_HISTORY_START)
    before = state.watermark
    # The watermark is the newest item *the source* reported (its clock, not ours), so clock skew between
    # Backfill and the source can neither skip nor repeat items beyond the overlap.
    state.commit(
        window_end=fetched.newest,
        earliest=fetched.oldest,
        latest=fetched.newest,
        documents=stored_documents,
        vectors=vectors,
        covers=covers,
        note=note,
        now=now,
    )
    ledger = state.settle_failures(asked=asked, ingested=fetched.doc_ids, failed=fetched.failures, now=now)
    state.coverage.last_run_status = "failed" if fetched.failures else "verified"
    lease.check()
    backend.save(state)
    if ledger.gone:
        logger.info("%s: %d earlier failure(s) no longer exist at the source: %s", source, len(ledger.gone),
                    ", ".join(ledger.gone[:10]))  # fmt: skip
    run = RunSummary.model_validate(
        {
            **ingested,
            "partitions": len(partitions),
            "failures": len(fetched.failures),
            "failures_resolved": len(ledger.resolved),
            "failures_gone": len(ledger.gone),
            "withheld": fetched.withheld,
            "window": [start, until],
            "watermark": state.watermark,
            "watermark_moved": state.watermark != before,
            "watermark_note": note,
            # source API requests this run made (cached partitions make none), per endpoint
            "requests": requests_since(requests_before),
            "skipped": fetched.skipped,
            "notes": fetched.notes,
        }
    )
    if fetched.skipped:
        logger.warning("%s: skipped %d scope(s) it may not read: %s", source, len(fetched.skipped),
                       "; ".join(fetched.skipped[:10]))  # fmt: skip
    for note in fetched.notes:
        logger.info("%s: %s", source, note)
    publish_run_report(source, run, extra_markdown=f"Watermark {note}.")
    if covers:
        _emit_verified(source, state, run)
    if fetched.failures:
        sample = ", ".join(f"{fid} ({reason})" for fid, reason, _ in fetched.failures[:5])
        raise FailuresRecorded(f"{source}: {len(fetched.failures)} record(s) could not be mapped: {sample}")
    return run.as_dict()


VERIFIED_EVENT = "backfill.source.verified"


def _emit_verified(source: str, state: SourceState, run: RunSummary) -> None:
    """Tell Prefect that ``source`` was proven in the index up to its watermark (what freshness counts).

    The proactive staleness automation (flows/alerts.py) fires when this event has not been seen for a source
    within its threshold: Prefect evaluates that itself, so a paused pool or a stuck queue cannot silence it.
    """
    emit_event(
        event=VERIFIED_EVENT,
        resource={"prefect.resource.id": f"backfill.source.{source}", "prefect.resource.name": source},
        payload={
            "watermark": state.watermark.isoformat() if state.watermark else None,
            "documents": state.coverage.documents,
            "vectors": state.coverage.vectors,
            "failures": len(state.failures),
            "verified": run.verified,
        },
    )


def _is_scoped(filters: dict[str, Any]) -> bool:
    """A run narrowed to some scopes (a non-empty list filter such as ``projects``) covers only those."""
    return any(isinstance(value, list | tuple | set) and value for value in filters.values())


def _plan(
    state: SourceState, params: RunParams, filters: dict[str, Any], now: datetime, overlap: timedelta
) -> tuple[datetime, datetime, str]:
    """The run's window; a resumed run reuses the crashed run's exact window and run key, so its partitions hit
    the cache. Any other run gets a new run key: it fetches everything in its window again."""
    key = json.dumps({**params.model_dump(mode="json", exclude={"resume"}), **filters}, sort_keys=True)
    pending = state.pending
    # Only a recent crash is resumed: an old pending window would hold a scheduled sync back in the past.
    if params.resume and pending is not None and pending.key == key and now - pending.until < RESUME_WITHIN:
        return pending.start, pending.until, f"resuming the unfinished run of {pending.until.isoformat()}"
    start, until, why = plan_window(params, state.watermark, now, overlap)
    state.pending = PendingRun(key=key, start=start, until=until)
    return start, until, why


def _fetch_to_spool(
    settings: Settings, source: str, partitions: list[Partition], params: RunParams, run_key: str
) -> _Fetched:
    """Fetch every partition (bounded concurrency) and stream the documents, in partition order, to a spool file."""
    fetch = fetch_partition.with_options(result_storage=result_storage(settings), refresh_cache=not params.resume)
    version = fetch_code_version(source)
    futures: list[PrefectFuture[dict[str, Any]]] = [
        fetch.submit(source, p.model_dump(mode="json"), run_key, version) for p in partitions
    ]
    progress = ProgressArtifact(source, "fetch", len(partitions))
    fd, name = tempfile.mkstemp(prefix=f"{source}-", suffix=".jsonl", dir=_spool_dir(settings))
    os.close(fd)
    fetched = _Fetched(spool=Path(name))
    try:
        with fetched.spool.open("w", encoding="utf-8") as out:
            # Resolve every future, in order: an unresolved failed future would let the flow "complete".
            for done, (partition, future) in enumerate(zip(partitions, futures, strict=True), start=1):
                result = future.result()
                for raw in result["documents"]:
                    doc = Document.model_validate(raw)
                    fetched.newest = max(filter(None, [fetched.newest, doc.updated_at]))
                    fetched.oldest = min(filter(None, [fetched.oldest, doc.updated_at]))
                    fetched.doc_ids.add(doc.id)
                    fetched.withheld += _withheld(doc)
                    out.write(doc.model_dump_json() + "\n")
                    fetched.documents += 1
                for raw in result["failures"]:
                    failure = FetchFailure.model_validate(raw)
                    fetched.failures.append((failure.id, failure.reason, failure.updated_at or partition.start))
                fetched.remember(
                    [SkippedScope.model_validate(raw) for raw in result.get("skipped", [])],
                    [RunNote.model_validate(raw) for raw in result.get("notes", [])],
                )
                progress.update(done)
                notify_progress(f"{source}: fetching partitions", done, len(futures))
    except BaseException:
        for future in futures:
            future.wait()  # let in-flight partitions finish and cache, so the rerun skips them
        fetched.spool.unlink(missing_ok=True)
        raise
    progress.complete()
    return fetched


def _sweep_spool(settings: Settings, source: str) -> None:
    """Remove spool files a killed run of ``source`` left behind (only called while holding its lease)."""
    for leftover in _spool_dir(settings).glob(f"{source}-*.jsonl"):
        leftover.unlink(missing_ok=True)


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
