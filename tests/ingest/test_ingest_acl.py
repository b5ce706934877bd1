"""ACLs in the ingest engine: stored whole in every chunk, changed in place without re-embedding, and filtered
on by both stores' query."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors.base import MAPPING_ERRORS
from core.acl import MAX_ACL_BYTES
from ingest.chunking import chunk_document
from ingest.document import Document
from ingest.embedders import OpenAIEmbedder
from ingest.factory import build_store
from ingest.metadata import MAX_METADATA_BYTES, chunk_metadata, metadata_size
from ingest.pipeline import IngestOptions, run_ingest
from ingest.protocols import Record, VectorStore
from sandbox.server import RunningSandbox
from sandbox.text import TextGen
from tests.ingest.ingest_helpers import DIM, make_settings

T0 = datetime(2026, 10, 1, tzinfo=UTC)
FAST = IngestOptions(batch_docs=8, verify_timeout_s=10.0, verify_poll_s=0.2)
MODEL = "text-embedding-3-small"
ENG, OPS, INTERNAL = "jira:project:ENG", "jira:project:OPS", "jira:security:Internal"


def _doc(n: int, acl: list[str] | None, minutes: int = 0) -> Document:
    gen = TextGen(n)
    return Document(
        id=f"jira:{n}",
        source="jira",
        title=f"Issue {n}",
        text="\n\n".join(gen.paragraph(4) for _ in range(3 + n % 5)),
        url=f"https://x.test/{n}",
        created_at=T0,
        updated_at=T0 + timedelta(minutes=minutes),
        metadata={"project": "ENG", "status": "Open"},
        acl=acl,
    )


@pytest.fixture(params=["pinecone", "lancedb"])
def make(
    sb: RunningSandbox, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[], tuple[OpenAIEmbedder, VectorStore]]:
    def build() -> tuple[OpenAIEmbedder, VectorStore]:
        settings = make_settings(sb, tmp_path, backfill_store=request.param)
        return OpenAIEmbedder(settings), build_store(settings, dimensions=DIM)

    return build


def _embedding_requests(sb: RunningSandbox) -> int:
    return sum(n for key, n in sb.control("counters")["counters"].items() if "embeddings" in key)


# --- never truncated ----------------------------------------------------------------------------------------


def test_the_acl_is_stored_whole_next_to_the_largest_fields() -> None:
    acl = [f"jira:group:{i:03d}-" + "g" * 80 for i in range(19)]  # ~1.9 KB: near the limit, never cut
    doc = Document(
        id="jira:1",
        source="jira",
        title="=" * 9_000,
        url="https://x.test/" + "u" * 5_000,
        text=("/" * 80 + "\n\n") * 3_000,
        created_at=T0,
        updated_at=T0,
        metadata={f"f{i}": "é" * 3_000 for i in range(30)} | {"people": ["p" * 300] * 400},
        acl=acl,
    )
    for chunk in chunk_document(doc, 8_191, MODEL):
        metadata = chunk_metadata(doc, chunk, MODEL)
        assert metadata_size(metadata) <= MAX_METADATA_BYTES and metadata["text"] == chunk.text
        assert metadata["acl"] == sorted(acl) and metadata["acl_rest"].count("|") == len(acl) - 2


def test_an_acl_that_cannot_be_stored_whole_is_a_mapping_error_not_a_cut_acl() -> None:
    too_many = [f"jira:group:{i:04d}-" + "g" * 100 for i in range(MAX_ACL_BYTES // 100)]
    with pytest.raises(ValidationError, match="never cut") as caught:
        _doc(1, too_many)
    assert isinstance(caught.value, MAPPING_ERRORS)  # the connector keeps the item as a FetchFailure


# --- permission changes re-write metadata, not vectors ------------------------------------------------------


def test_a_changed_acl_rewrites_metadata_without_embedding(
    sb: RunningSandbox, make: Callable[[], tuple[OpenAIEmbedder, VectorStore]]
) -> None:
    embedder, store = make()
    docs = [_doc(n, [ENG]) for n in range(6)]
    first = run_ingest(docs, embedder, store, FAST)
    assert first.status == "verified" and first.embedded == first.chunks
    requests_before = _embedding_requests(sb)
    assert requests_before > 0  # the counter does count them
    restricted = [_doc(n, [ENG, INTERNAL] if n < 3 else [ENG], minutes=5) for n in range(6)]

    second = run_ingest(restricted, embedder, store, FAST)

    assert second.status == "verified" and second.tokens == 0 and second.embedded == 0
    assert _embedding_requests(sb) == requests_before  # not one embedding request
    changed_chunks = sum(len(chunk_document(d, embedder.max_chunk_tokens, MODEL)) for d in restricted[:3])
    assert second.metadata_updated == changed_chunks
    stored = store.fetch_metadata([f"jira:{n}#0" for n in range(6)])
    assert stored["jira:0#0"]["acl"] == [ENG, INTERNAL] and stored["jira:0#0"]["acl_security"] == INTERNAL
    assert stored["jira:5#0"]["acl"] == [ENG] and stored["jira:5#0"]["acl_security"] == "none"
    assert run_ingest(restricted, embedder, store, FAST).metadata_updated == 0  # settled


def test_chunks_stored_before_the_acl_fields_get_them_in_place_without_embedding(
    sb: RunningSandbox, make: Callable[[], tuple[OpenAIEmbedder, VectorStore]]
) -> None:
    embedder, store = make()
    docs = [_doc(n, [ENG]) for n in range(3)]
    old = []  # written as a version without acl_scope/acl_security/acl_rest did
    for doc in docs:
        chunks = chunk_document(doc, embedder.max_chunk_tokens, MODEL)
        vectors = embedder.embed([chunk.text for chunk in chunks])
        for chunk, values in zip(chunks, vectors, strict=True):
            metadata = {k: v for k, v in chunk_metadata(doc, chunk, MODEL).items() if not k.startswith("acl_")}
            old.append(Record(chunk.id, list(values), metadata))
    store.upsert(old)
    requests_before = _embedding_requests(sb)

    report = run_ingest(docs, embedder, store, FAST)

    assert report.status == "verified" and report.tokens == 0 and report.metadata_updated == len(old)
    assert _embedding_requests(sb) == requests_before
    assert all(m["acl_scope"] == ENG for m in store.fetch_metadata([r.id for r in old]).values())


# --- filtered queries ---------------------------------------------------------------------------------------


def test_query_with_grants_returns_only_visible_chunks_and_never_unlabelled_ones(
    make: Callable[[], tuple[OpenAIEmbedder, VectorStore]],
) -> None:
    embedder, store = make()
    docs = [_doc(n, [ENG] if n % 3 == 0 else [OPS] if n % 3 == 1 else None) for n in range(9)]
    docs.append(_doc(20, [ENG, INTERNAL]))
    assert run_ingest(docs, embedder, store, FAST).status == "verified"
    [vector] = embedder.embed([docs[0].text])

    def seen(grants: list[str] | None) -> set[str]:
        return {str(m.metadata["doc_id"]) for m in store.query(vector, top_k=50, grants=grants)}

    assert seen([ENG]) == {"jira:0", "jira:3", "jira:6"}  # filled with visible chunks only
    assert seen([ENG, INTERNAL]) == {"jira:0", "jira:3", "jira:6", "jira:20"}
    assert seen([OPS]) == {"jira:1", "jira:4", "jira:7"}
    assert seen([]) == set()
    assert {"jira:2", "jira:5", "jira:8"} <= seen(None)  # without grants: everything, as before
    top = store.query(vector, top_k=2, grants=[OPS])
    assert len(top) == 2 and all(m.metadata["acl"] == [OPS] for m in top)
