"""PINECONE_NAMESPACE=__default__: the index's default namespace, named the same way on every call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pinecone import Pinecone

from core.settings import SettingsError, load_settings
from ingest.chunking import chunk_document
from ingest.document import Document
from ingest.embedders import OpenAIEmbedder
from ingest.factory import build_store
from ingest.pipeline import IngestOptions, run_ingest
from sandbox.server import RunningSandbox
from sandbox.text import TextGen
from tests.ingest.ingest_helpers import DIM, make_settings, rejections

T0 = datetime(2026, 10, 1, tzinfo=UTC)
FAST = IngestOptions(batch_docs=4, verify_timeout_s=10.0, verify_poll_s=0.2)


def _doc(n: int, paragraphs: list[str], minutes: int = 0) -> Document:
    return Document(
        id=f"jira:{n}",
        source="jira",
        title=f"Issue {n}",
        text="\n\n".join(paragraphs),
        url=f"https://x.test/{n}",
        created_at=T0,
        updated_at=T0 + timedelta(minutes=minutes),
        metadata={"project": "PROJ"},
    )


def _paragraphs(seed: int, count: int) -> list[str]:
    gen = TextGen(seed)
    return [gen.paragraph(4) for _ in range(count)]


def test_ingest_into_the_default_namespace_verifies_queries_and_prunes(sb: RunningSandbox, tmp_path: Path) -> None:
    settings = make_settings(sb, tmp_path, pinecone_namespace="__default__")
    embedder, store = OpenAIEmbedder(settings), build_store(settings, dimensions=DIM)
    assert store.namespace == "__default__"
    long = _paragraphs(1, 40)
    three = next(
        _doc(1, long[:n])
        for n in range(1, 40)
        if len(chunk_document(_doc(1, long[:n]), embedder.max_chunk_tokens, embedder.model)) == 3
    )
    docs = [three] + [_doc(n, _paragraphs(n, 2 + n % 3)) for n in range(2, 8)]

    first = run_ingest(docs, embedder, store, FAST)  # upsert, fetch (hashes and read-back)
    assert first.status == "verified" and first.verified == first.chunks == store.count() > 0  # describe stats

    # The vectors are in the index's default namespace, not in a namespace literally called "__default__":
    # the simulator keys its default namespace "" internally, and a client that names no namespace sees them.
    assert set(sb.control("pinecone/stats")["namespaces"]) == {""}
    index = Pinecone(api_key=sb.env["PINECONE_API_KEY"]).Index(host=sb.env["PINECONE_INDEX_HOST"])
    assert set(index.fetch(ids=["jira:2#0", "jira:7#0"]).vectors) == {"jira:2#0", "jira:7#0"}
    assert index.describe_index_stats().namespaces["__default__"].vector_count == first.chunks

    # Query: a chunk's own text finds that chunk first.
    text = str(store.fetch_metadata(["jira:4#0"])["jira:4#0"]["text"])
    top = store.query(embedder.embed([text])[0], top_k=3, source="jira")
    assert top[0].id == "jira:4#0" and top[0].score == pytest.approx(1.0, abs=1e-3)

    # A rerun finds every hash in the same namespace, so it embeds and writes nothing.
    again = run_ingest(docs, embedder, store, FAST)
    assert (again.status, again.embedded, again.upserted, again.unchanged) == ("verified", 0, 0, first.chunks)

    # A shrunken document: list its chunk ids and delete the stale one, in the same namespace.
    one = next(
        _doc(1, long[:n], minutes=1)
        for n in range(1, 40)
        if len(chunk_document(_doc(1, long[:n]), embedder.max_chunk_tokens, embedder.model)) == 1
    )
    shrunk = run_ingest([one], embedder, store, FAST)
    assert shrunk.status == "verified" and shrunk.deleted == 2
    assert list(store.list_ids("jira:1#")) == ["jira:1#0"]
    assert store.count() == first.chunks - 2
    assert rejections(sb) == {}


def test_an_empty_namespace_is_refused_naming_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINECONE_NAMESPACE", "")
    with pytest.raises(SettingsError, match=r"PINECONE_NAMESPACE.*'__default__'"):
        load_settings()


def test_the_default_namespace_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINECONE_NAMESPACE", "__default__")
    assert load_settings().pinecone_namespace == "__default__"
