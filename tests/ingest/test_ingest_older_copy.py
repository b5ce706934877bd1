"""An older copy of a document never overwrites (or shrinks) a newer one already in the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.chunking import chunk_document
from ingest.document import Document
from ingest.embedders import OpenAIEmbedder
from ingest.factory import build_store
from ingest.pipeline import IngestOptions, plan_batch, run_ingest
from ingest.protocols import VectorStore
from sandbox.server import RunningSandbox
from sandbox.text import TextGen
from tests.ingest.ingest_helpers import DIM, make_settings

T0 = datetime(2026, 10, 1, tzinfo=UTC)
FAST = IngestOptions(batch_docs=8, verify_timeout_s=10.0, verify_poll_s=0.2)


def _doc(seed: int, paragraphs: int, hours: float, n: int = 1) -> Document:
    gen = TextGen(seed)
    return Document(
        id=f"jira:{n}",
        source="jira",
        title=f"Issue {n}",
        text="\n\n".join(gen.paragraph(4) for _ in range(paragraphs)),
        created_at=T0,
        updated_at=T0 + timedelta(hours=hours),
    )


def _stored(store: VectorStore, doc_id: str) -> dict[str, str]:
    ids = list(store.list_ids(f"{doc_id}#"))
    return {i: str(meta["text"]) for i, meta in store.fetch_metadata(ids).items()}


@pytest.fixture(params=["lancedb", "pinecone"])
def setup(request: pytest.FixtureRequest, sb: RunningSandbox, tmp_path: Path) -> tuple[OpenAIEmbedder, VectorStore]:
    settings = make_settings(sb, tmp_path, backfill_store=request.param)
    return OpenAIEmbedder(settings), build_store(settings, dimensions=DIM)


@pytest.mark.parametrize(("newer_paragraphs", "older_paragraphs"), [(12, 12), (4, 30), (30, 4)])
def test_replaying_an_older_copy_leaves_the_newer_one(setup, newer_paragraphs: int, older_paragraphs: int) -> None:
    embedder, store = setup
    v2 = _doc(2, newer_paragraphs, hours=5)
    v1 = _doc(1, older_paragraphs, hours=1)  # other text, other chunk count, updated earlier
    assert run_ingest([v2, _doc(3, 3, hours=0, n=2)], embedder, store, FAST).status == "verified"
    newer = _stored(store, "jira:1")
    assert len(newer) == len(chunk_document(v2, embedder.max_chunk_tokens, embedder.model))

    used = embedder.tokens_used
    replay = run_ingest([v1], embedder, store, FAST)  # a resumed run replaying a cached partition
    assert replay.status == "verified"
    assert (replay.embedded, replay.upserted, replay.deleted, replay.tokens) == (0, 0, 0, 0)
    assert replay.unchanged == replay.chunks == len(chunk_document(v1, embedder.max_chunk_tokens, embedder.model))
    assert embedder.tokens_used == used
    assert _stored(store, "jira:1") == newer  # neither overwritten, nor grown, nor shrunk

    v3 = _doc(4, 6, hours=9)  # a genuinely newer copy still replaces it, stale chunks and all
    assert run_ingest([v3], embedder, store, FAST).status == "verified"
    expected = {chunk.id: chunk.text for chunk in chunk_document(v3, embedder.max_chunk_tokens, embedder.model)}
    assert _stored(store, "jira:1") == expected


def test_the_plan_counts_the_skipped_document_and_lists_nothing_stale(setup) -> None:
    embedder, store = setup
    run_ingest([_doc(2, 30, hours=5)], embedder, store, FAST)
    older, fresh = _doc(1, 4, hours=1), _doc(5, 3, hours=0, n=7)
    plan = plan_batch([older, fresh], store, embedder)
    assert plan.skipped_older == 1 and plan.stale_ids == []
    assert {planned.chunk.doc_id for planned in plan.to_embed} == {"jira:7"}
    assert plan.unchanged == len(chunk_document(older, embedder.max_chunk_tokens, embedder.model))
