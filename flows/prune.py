"""Pruning: what was deleted at a source leaves the index, behind a guard that refuses to wipe it by mistake.

One shared flow for every registered source (``prune(source=...)``), holding the source's lease like a run:

1. list the ids that still exist at the source (``Connector.list_ids`` over the scopes of a full-history plan,
   with the registry entry's ``prune_filters``): any error — a 5xx that outlived the retries half-way, a 401/403, a
   malformed page — refuses, because a partial listing looks exactly like mass deletion;
2. list ours under the ``<source>:`` prefix in the store (a document id is a vector id before ``#``);
3. the difference is stale. More than ``BACKFILL_PRUNE_MAX_SHARE`` of the stored documents refuses unless
   ``force`` (which never overrides a failed listing);
4. delete every chunk of each stale document, read the ids back until none remains (bounded), drop the stale ids
   from the failure ledger, and clear the source's pending run, so no resumed run replays cached fetch results
   that still hold the deleted documents (their cache key includes the pending run's key).

A refusal or an unverified deletion raises, so the flow run ends Failed and the failure automation alerts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from prefect import flow, get_run_logger
from pydantic import Field

from connectors.base import Window
from connectors.http import request_counts, requests_since
from connectors.registry import make_connector, source_spec
from core.lease import Lease
from core.planning import FULL_HISTORY_START
from core.report import PruneSummary
from core.settings import Settings, load_settings
from flows.artifacts import publish_prune_report
from flows.runtime import source_lease, state_backend
from flows.secret_env import load_secret_env
from ingest.document import doc_id_of_chunk
from ingest.factory import build_embedder, build_store
from ingest.protocols import VectorStore

__all__ = ["PruneFailed", "PruneRefused", "prune", "prune_source"]

FETCH_BATCH = 1000  # ids per read-back call (Pinecone's fetch limit)
VERIFY_TIMEOUT_S = 60.0  # how long deletions may take to become visible (Pinecone is eventually consistent)


class PruneRefused(RuntimeError):
    """The guard stopped a prune before anything was deleted; ``summary`` says why."""

    def __init__(self, summary: PruneSummary) -> None:
        super().__init__(f"{summary.source}: prune refused: {summary.reason}")
        self.summary = summary


class PruneFailed(RuntimeError):
    """Deleted vectors still read back after the verification bound; ``summary`` counts them."""

    def __init__(self, summary: PruneSummary) -> None:
        super().__init__(f"{summary.source}: prune failed: {summary.reason}")
        self.summary = summary


@flow(name="backfill-prune", flow_run_name="{source}-prune", timeout_seconds=3 * 3600)
def prune(
    source: Annotated[str, Field(description="The registered source to prune (jira, tempo, ...).")],
    dry_run: Annotated[bool, Field(description="Report what would be deleted; delete nothing.")] = False,
    force: Annotated[bool, Field(description="Delete past the BACKFILL_PRUNE_MAX_SHARE threshold.")] = False,
) -> dict[str, Any]:
    """Delete from the index the documents the source no longer has; refuse (and fail) when in doubt."""
    return prune_source(source, dry_run=dry_run, force=force).as_dict()


def prune_source(source: str, *, dry_run: bool = False, force: bool = False) -> PruneSummary:
    """Prune ``source`` inside a flow, holding its lease. Raises PruneRefused / PruneFailed (flow run Failed)."""
    source_spec(source)  # an unknown source fails here, naming the registered ones
    load_secret_env()
    settings = load_settings()
    backend = state_backend(settings)
    lease = source_lease(settings, backend, source)
    with lease:
        summary = _prune_holding_lease(source, settings, dry_run=dry_run, force=force, lease=lease)
    publish_prune_report(summary)
    if summary.status == "refused":
        raise PruneRefused(summary)
    if summary.status == "failed":
        raise PruneFailed(summary)
    return summary


def _prune_holding_lease(source: str, settings: Settings, *, dry_run: bool, force: bool, lease: Lease) -> PruneSummary:
    logger = get_run_logger()
    backend = state_backend(settings)
    summary = PruneSummary(source=source, max_share=settings.backfill_prune_max_share, forced=force)
    requests_before = request_counts()

    store = build_store(settings, build_embedder(settings).dimensions)
    ours: dict[str, list[str]] = {}
    for vector_id in store.list_ids(f"{source}:"):
        ours.setdefault(doc_id_of_chunk(vector_id), []).append(vector_id)
    summary.stored = len(ours)

    try:
        live, scopes = _live_ids(source, settings)
    except Exception as exc:  # whatever broke the listing, its difference cannot be trusted
        # 401/403, a 5xx or malformed page that outlived the retries: the listing is partial, so is its difference.
        summary.status, summary.reason = "refused", f"the listing failed, nothing deleted: {exc}"
        summary.requests = requests_since(requests_before)
        return summary
    summary.requests = requests_since(requests_before)
    summary.live, summary.scopes = len(live), scopes

    stale = sorted(set(ours) - live)
    summary.stale, summary.stale_sample = len(stale), stale[:20]
    summary.share = round(len(stale) / len(ours), 4) if ours else 0.0
    logger.info("%s: %d live at the source, %d in the index, %d stale (%.1f %%)", source, len(live), len(ours),
                len(stale), 100 * summary.share)  # fmt: skip
    if stale and summary.share > summary.max_share and not force:
        summary.status = "refused"
        summary.reason = (
            f"{len(stale)} of {len(ours)} documents ({summary.share:.1%}) are gone at the source, more than "
            f"BACKFILL_PRUNE_MAX_SHARE={summary.max_share:.0%}; nothing deleted (check the source, then --force)"
        )
        return summary
    if dry_run:
        summary.status = "dry_run"
        summary.reason = f"would delete {len(stale)} document(s); nothing deleted" if stale else "nothing to delete"
        return summary
    summary.reason = "nothing to delete"

    lease.check()
    gone: set[str] = set()
    if stale:
        vector_ids = [vid for doc_id in stale for vid in ours[doc_id]]
        store.delete(vector_ids)
        left = _read_back(store, vector_ids)
        summary.deleted_vectors = len(vector_ids) - len(left)
        summary.verified_gone = summary.deleted_vectors
        gone = set(stale) - {doc_id_of_chunk(v) for v in left}  # documents none of whose chunks remain
        summary.deleted_documents = len(gone)
        if left:
            summary.status = "failed"
            summary.reason = f"{len(left)} deleted vector(s) still read back, e.g. {', '.join(left[:5])}"
    state = backend.load(source)
    summary.failures_dropped = len(state.drop_failures(gone))
    # Cached fetch results of an unfinished run may hold the deleted documents: without its pending run no
    # resume can reach them (their cache key carries its run key); the next run plans its window afresh.
    summary.pending_cleared = state.pending is not None
    state.pending = None
    if summary.status != "failed":
        state.coverage.documents = max(0, state.coverage.documents - summary.deleted_documents)
        state.coverage.vectors = max(0, state.coverage.vectors - summary.deleted_vectors)
    lease.check()
    backend.save(state)
    if summary.status == "running":
        summary.status = "pruned"
        summary.reason = f"deleted {summary.deleted_documents} document(s), verified gone" if stale else summary.reason
    return summary


def _live_ids(source: str, settings: Settings) -> tuple[set[str], int]:
    """Every id the source still has, over the scopes a full-history run would read (with ``prune_filters``)."""
    connector = make_connector(source, settings)
    try:
        connector.check()
        window = Window(start=FULL_HISTORY_START, end=datetime.now(UTC))
        scopes = sorted({p.scope for p in connector.partitions(window, **source_spec(source).prune_filters)})
        live: set[str] = set()
        for scope in scopes:
            live.update(connector.list_ids(scope))
    finally:
        connector.close()
    return live, len(scopes)


def _read_back(store: VectorStore, ids: Sequence[str], timeout_s: float = VERIFY_TIMEOUT_S) -> list[str]:
    """The ids that still read back after polling up to ``timeout_s`` (empty: every deletion is visible)."""
    deadline = time.monotonic() + timeout_s
    left = list(ids)
    delay = 0.2
    while True:
        left = [
            i
            for start in range(0, len(left), FETCH_BATCH)
            for i in store.fetch_metadata(left[start : start + FETCH_BATCH])
        ]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
