"""The ingest operation: Documents → chunks → embeddings → vectors → verified.

``run_ingest`` streams: memory holds one batch of documents, at most about one embedding request of planned
chunks and one upsert request of embedded records waiting to be sent (plus the request in flight), and id sets
(seen ids, written id → hash), never the corpus. Planned chunks are carried across document batches so that
only full requests go out (≤ 2,048 inputs / 300k tokens per embedding request, ≤ 1,000 records / 2 MB per
upsert); the remainder is flushed once, before verification. It is composed of public step functions
(``plan_batch``, ``update_metadata``, ``write_requests``, ``delete_stale``, ``verify``) so the Prefect flow can
wrap each document batch and each flushed request group in its own task with the same behaviour. A chunk whose
text is stored but whose document fields changed (a new ``acl``) is updated in place, never re-embedded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from core.acl import ACL_FIELDS
from ingest.chunk_ahead import START_AFTER_DOCS, chunked_batches
from ingest.chunking import Chunk, chunk_document
from ingest.dedupe import Deduper
from ingest.document import Document
from ingest.errors import VerificationFailed, sample
from ingest.metadata import chunk_metadata, doc_fingerprint
from ingest.protocols import Embedder, VectorStore
from ingest.tokens import estimate_cost_usd
from ingest.writing import (
    BatchResult,
    PlannedChunk,
    Writer,
    WriteResult,
    whole_embedding_requests,
    write_requests,
)

__all__ = [
    "BatchPlan",
    "BatchResult",
    "IngestOptions",
    "IngestReport",
    "PlannedChunk",
    "StepWrapper",
    "VerifyResult",
    "WriteResult",
    "delete_stale",
    "plan_batch",
    "run_ingest",
    "update_metadata",
    "verify",
    "whole_embedding_requests",
    "write_requests",
]

Status = Literal["running", "verified", "failed", "dry_run", "budget_stopped"]
FETCH_BATCH = 4_000  # ids per read-back call: a store splits them into requests (Pinecone: 1,000, in parallel)
_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])
StepWrapper = Callable[[str, Any], Any]  # (step name, step function) -> a callable doing the same


def _unwrapped(name: str, fn: _F) -> _F:
    return fn


@dataclass(frozen=True)
class IngestOptions:
    # Documents planned together: one hash look-up request and one Prefect task per batch. Requests to the
    # vendors are packed full across batches whatever the size (ingest/writing.py).
    batch_docs: int = 256
    dry_run: bool = False  # count tokens and cost; embed, write and delete nothing
    max_tokens: int | None = None  # stop cleanly before a batch would exceed this many embedding tokens
    verify_timeout_s: float = 60.0
    verify_poll_s: float = 0.5
    max_duplicate_share: float = 0.05
    label: str = ""  # names the source/partition in error messages
    chunk_worker: bool = True  # long runs chunk ahead in a worker process (ingest/chunk_ahead.py)
    chunk_worker_after_docs: int = START_AFTER_DOCS


@dataclass
class BatchPlan:
    documents: int = 0
    chunks: int = 0
    unchanged: int = 0  # chunks already stored as wanted, and the chunks of skipped_older documents
    skipped_older: int = 0  # documents left alone: the store holds a newer copy (an older replay)
    to_embed: list[PlannedChunk] = field(default_factory=list)
    stale_ids: list[str] = field(default_factory=list)  # ids of chunks that shrunken documents no longer have
    # Chunks whose text is stored as wanted but whose document fields (acl, url, status...) changed: their
    # metadata is re-written in place, without re-embedding (id → the whole wanted metadata).
    to_update: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return sum(planned.tokens for planned in self.to_embed)


@dataclass
class VerifyResult:
    checked: int
    verified: int
    missing: list[str]  # absent, or present with another content_hash, when the bound ran out
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return not self.missing


@dataclass
class IngestReport:
    documents: int = 0
    unique: int = 0
    chunks: int = 0
    unchanged: int = 0
    embedded: int = 0
    upserted: int = 0
    verified: int = 0
    deleted: int = 0
    metadata_updated: int = 0  # chunks whose metadata (e.g. a changed acl) was re-written without re-embedding
    tokens: int = 0
    estimated_cost_usd: float = 0.0
    missing: int = 0
    missing_sample: list[str] = field(default_factory=list)
    status: Status = "running"


# --- steps --------------------------------------------------------------------------------------------------


def plan_batch(
    docs: Sequence[Document],
    store: VectorStore,
    embedder: Embedder,
    chunks: Sequence[list[Chunk]] | None = None,
) -> BatchPlan:
    """Chunk ``docs`` and keep only chunks whose stored version differs; find stale chunks of shrunk docs.

    A document whose stored copy is newer (a resumed run replaying cached partitions after a newer run) is
    left alone entirely, its chunks counted as unchanged: an older copy never overwrites or shrinks a newer one.
    ``chunks`` (one list per document, in order) are the documents' chunks when they were made ahead.
    """
    plan = BatchPlan(documents=len(docs))
    if chunks is None:
        chunks = [chunk_document(doc, embedder.max_chunk_tokens, embedder.model) for doc in docs]
    chunked = list(zip(docs, chunks, strict=True))
    existing = store.fetch_metadata([chunk.id for _, chunks in chunked for chunk in chunks])
    for doc, chunks in chunked:
        plan.chunks += len(chunks)
        if _stored_is_newer([existing.get(chunk.id) for chunk in chunks], doc):
            plan.unchanged += len(chunks)
            plan.skipped_older += 1
            continue
        changed = False
        doc_hash = doc_fingerprint(doc)  # once per document, not per chunk
        for chunk in chunks:
            metadata = chunk_metadata(doc, chunk, embedder.model, doc_hash)
            stored = existing.get(chunk.id)
            if _is_current(stored, metadata):
                plan.unchanged += 1
                continue
            if _only_metadata_changed(stored, metadata):
                plan.to_update[chunk.id] = metadata
                continue
            changed = True
            plan.to_embed.append(PlannedChunk(chunk, metadata))
        if changed and any(chunk.id in existing for chunk in chunks):
            # Only a stored document that changed can have left chunks behind: listing the others (every
            # document of a first backfill) would cost one call per document for nothing.
            keep = {chunk.id for chunk in chunks}
            plan.stale_ids.extend(i for i in store.list_ids(f"{doc.id}#") if i not in keep)
    return plan


def _stored_is_newer(stored: Sequence[Mapping[str, object] | None], doc: Document) -> bool:
    """Whether any stored chunk of ``doc`` belongs to a copy updated after it.

    Every stored copy has a chunk 0, so looking at the ids of the incoming chunks always finds one when the
    document is stored. Times are whole epoch seconds, as stored (``chunk_metadata``); two copies within the
    same second cannot be told apart and the incoming one wins, as before.
    """
    incoming = int(doc.updated_at.timestamp())
    for metadata in stored:
        updated = (metadata or {}).get("updated_at")
        # Pinecone hands numbers back as floats; a bool is not a time.
        if isinstance(updated, int | float) and not isinstance(updated, bool) and updated > incoming:
            return True
    return False


def _is_current(stored: Mapping[str, object] | None, wanted: Mapping[str, object]) -> bool:
    # chunk_count and doc_hash count too: a grown document or a changed status must not leave stale metadata.
    # The acl fields too: a chunk written before they existed has the same doc_hash but no filterable acl (a full
    # run then adds them in place, without embedding).
    return (
        stored is not None
        and all(stored.get(key) == wanted[key] for key in ("content_hash", "chunk_count", "doc_hash"))
        and all(stored.get(key) == wanted.get(key) for key in ACL_FIELDS)
    )


def _only_metadata_changed(stored: Mapping[str, object] | None, wanted: Mapping[str, object]) -> bool:
    """Whether the stored chunk has the wanted text and vector and differs only in fields that an in-place update
    can set: same content hash, chunk count and model, and no stored field the wanted metadata lacks (an update
    sets fields, it cannot remove one; then the chunk is written again)."""
    return (
        stored is not None
        and all(stored.get(key) == wanted[key] for key in ("content_hash", "chunk_count", "embedding_model"))
        and set(stored) <= set(wanted)
    )


def update_metadata(metadata: Mapping[str, Mapping[str, object]], store: VectorStore) -> int:
    """Re-write the metadata of stored chunks in place (no embedding); returns how many were asked to change."""
    return store.update_metadata(metadata) if metadata else 0


def delete_stale(ids: Sequence[str], store: VectorStore) -> int:
    """Delete chunk ids that documents no longer have; returns how many were asked to go."""
    if ids:
        store.delete(ids)
    return len(ids)


def verify(
    expected: Mapping[str, str],
    store: VectorStore,
    timeout_s: float = 60.0,
    poll_s: float = 0.5,
    key: str = "content_hash",
) -> VerifyResult:
    """Read back every id in ``expected`` (id → its ``key`` field: content_hash for written chunks, doc_hash for
    chunks whose metadata was updated) until all match or ``timeout_s`` passes.

    Pinecone is eventually consistent, so a just-written id may be absent for a while: poll, re-checking
    only the ids still missing, and give up after the bound with the list of what never showed up.
    """
    started = time.monotonic()
    pending = list(expected)
    while True:
        pending = _missing(pending, expected, store, key)
        elapsed = time.monotonic() - started
        if not pending or elapsed >= timeout_s:
            return VerifyResult(len(expected), len(expected) - len(pending), pending, elapsed)
        time.sleep(min(poll_s, max(0.0, timeout_s - elapsed)))


def _missing(ids: Sequence[str], expected: Mapping[str, str], store: VectorStore, key: str) -> list[str]:
    missing: list[str] = []
    for batch in _batched(ids, FETCH_BATCH):
        found = store.fetch_metadata(batch)
        missing.extend(i for i in batch if (found.get(i) or {}).get(key) != expected[i])
    return missing


# --- the whole run ------------------------------------------------------------------------------------------


def run_ingest(
    documents: Iterable[Document],
    embedder: Embedder,
    store: VectorStore,
    options: IngestOptions | None = None,
    progress: Callable[[IngestReport], None] | None = None,
    step: StepWrapper | None = None,
) -> IngestReport:
    """Ingest ``documents`` batch by batch, then verify every written id. Raises ``VerificationFailed``.

    ``step(name, fn)`` may wrap each step function (the Prefect flow turns them into tasks: one ``plan-batch``
    and ``delete-stale`` per document batch, one ``embed-and-upsert`` per flushed group of whole requests, one
    ``verify``); it must return a callable with the same signature and result. One ``embed-and-upsert`` runs in
    a worker thread (in the caller's context) while the next document batches are planned.
    """
    options = options or IngestOptions()
    wrap = step or _unwrapped
    plan_step = wrap("plan-batch", plan_batch)
    write_step = wrap("embed-and-upsert", write_requests)
    delete_step = wrap("delete-stale", delete_stale)
    update_step = wrap("update-metadata", update_metadata)
    verify_step = wrap("verify", verify)
    report = IngestReport()
    deduper = Deduper(max_duplicate_share=options.max_duplicate_share, label=options.label)
    writer = Writer(write_step, embedder, store)
    updated: dict[str, str] = {}  # chunk id → doc_hash, for chunks whose metadata was re-written in place
    batches = chunked_batches(
        _deduplicated(documents, options.batch_docs, deduper),
        lambda batch: batch.docs,
        embedder.max_chunk_tokens,
        embedder.model,
        parallel=options.chunk_worker,
        start_after_docs=options.chunk_worker_after_docs,
    )
    try:
        for batch, chunks in batches:
            docs = batch.docs
            report.documents, report.unique = batch.documents, batch.unique
            writer.forget({doc.id for doc in docs})  # a newer copy replaces whatever of the old one is unsent
            plan = plan_step(docs, store, embedder, chunks)
            over_budget = options.max_tokens is not None and report.tokens + plan.tokens > options.max_tokens
            if over_budget:
                # Only the leading documents that fit are planned again and written: the budget is spent
                # document by document, nothing past it is embedded, and what was planned is verified.
                assert options.max_tokens is not None
                fitting = _leading_docs_within(docs, plan, options.max_tokens - report.tokens)
                fitting_chunks = chunks[:fitting] if chunks is not None else None
                plan = plan_step(docs[:fitting], store, embedder, fitting_chunks) if fitting else BatchPlan()
            _count_plan(report, plan, embedder.model)
            if not options.dry_run and plan.documents:
                report.deleted += delete_step(plan.stale_ids, store)
                report.metadata_updated += update_step(plan.to_update, store)
                updated.update({vid: str(meta["doc_hash"]) for vid, meta in plan.to_update.items()})
                writer.drop_written(plan.stale_ids)  # a newer copy in this run shrank the document again
                writer.add(plan.to_embed)
                report.embedded, report.upserted = writer.embedded, writer.upserted
            if progress is not None:
                progress(report)
            if over_budget:
                report.status = "budget_stopped"
                break
        if report.status != "budget_stopped":
            deduper.finish()
        if options.dry_run:
            report.status = "dry_run"
            return report
        writer.flush()
        report.embedded, report.upserted = writer.embedded, writer.upserted
    finally:
        batches.close()  # stops a chunking worker at once, also on a budget stop or an error
        writer.close()
    if progress is not None:
        progress(report)
    return _verify_and_finish(report, writer.written, updated, store, options, verify_step)


def _leading_docs_within(docs: Sequence[Document], plan: BatchPlan, budget: int) -> int:
    """How many leading ``docs`` the plan can embed within ``budget`` tokens."""
    tokens_of: dict[str, int] = {}
    for planned in plan.to_embed:
        tokens_of[planned.chunk.doc_id] = tokens_of.get(planned.chunk.doc_id, 0) + planned.tokens
    spent = 0
    for index, doc in enumerate(docs):
        spent += tokens_of.get(doc.id, 0)
        if spent > budget:
            return index
    return len(docs)


def _count_plan(report: IngestReport, plan: BatchPlan, model: str) -> None:
    report.chunks += plan.chunks
    report.unchanged += plan.unchanged
    report.tokens += plan.tokens
    report.estimated_cost_usd = estimate_cost_usd(model, report.tokens)


def _verify_and_finish(
    report: IngestReport,
    written: Mapping[str, str],
    updated: Mapping[str, str],
    store: VectorStore,
    options: IngestOptions,
    verify_step: Callable[..., VerifyResult],
) -> IngestReport:
    result = verify_step(written, store, options.verify_timeout_s, options.verify_poll_s)
    # Chunks updated in place are read back by their doc_hash (a later write of the same id is checked above).
    in_place = {vid: doc_hash for vid, doc_hash in updated.items() if vid not in written}
    if in_place:
        again = verify_step(in_place, store, options.verify_timeout_s, options.verify_poll_s, "doc_hash")
        result = VerifyResult(
            result.checked + again.checked,
            result.verified + again.verified,
            result.missing + again.missing,
            max(result.elapsed_s, again.elapsed_s),
        )
    report.verified = result.verified
    report.missing = len(result.missing)
    report.missing_sample = result.missing[:5]
    if not result.ok:
        report.status = "failed"
        where = f"{options.label}: " if options.label else ""
        raise VerificationFailed(
            f"{where}{len(result.missing)} of {result.checked} written vectors missing or stale after "
            f"{result.elapsed_s:.1f}s; sample {sample(result.missing)}",
            missing=result.missing,
            report=report,
        )
    store.finish()
    if report.status == "running":
        report.status = "verified"
    return report


@dataclass(frozen=True)
class _UniqueBatch:
    docs: list[Document]
    documents: int  # documents read so far (this batch included)
    unique: int  # distinct ids so far


def _deduplicated(documents: Iterable[Document], size: int, deduper: Deduper) -> Iterator[_UniqueBatch]:
    """Batches of ``size`` documents as the deduper lets them through, with the running counts."""
    for batch in _batched(documents, size):
        docs = deduper.add(batch)
        yield _UniqueBatch(docs, deduper.total, deduper.unique)


def _batched(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    batch: list[_T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
