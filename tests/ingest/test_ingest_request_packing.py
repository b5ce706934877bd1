"""Planned chunks are carried across document batches: only full embedding and upsert requests go out."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

from ingest.document import Document
from ingest.embedders import OpenAIEmbedder
from ingest.factory import build_store
from ingest.pipeline import IngestOptions, run_ingest
from sandbox.server import RunningSandbox
from sandbox.text import TextGen
from tests.ingest.ingest_helpers import DIM, make_settings, rejections

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def _docs(count: int, words: int) -> list[Document]:
    gen = TextGen(11)
    return [
        Document(id=f"jira:{n}", source="jira", title=f"Issue {n}", text=gen.words(words), created_at=T0, updated_at=T0)
        for n in range(count)
    ]


def _requests(sb: RunningSandbox, key: str) -> int:
    return int(sb.control("counters")["counters"].get(key, 0))


def test_embedding_requests_are_full_across_document_batches(sb: RunningSandbox, tmp_path: Path) -> None:
    settings = make_settings(sb, tmp_path)
    embedder = OpenAIEmbedder(settings, max_batch_inputs=7)  # a small request size makes many requests cheap
    store = build_store(settings, dimensions=DIM)

    report = run_ingest(_docs(60, 40), embedder, store, IngestOptions(batch_docs=4))

    assert report.status == "verified" and report.embedded == report.verified == 60
    # 15 document batches of 4 one-chunk documents; per-batch sending would make 15 requests.
    assert _requests(sb, "openai POST /v1/embeddings") == math.ceil(60 / 7)
    assert rejections(sb) == {}


def test_upsert_requests_are_full_across_document_batches(sb: RunningSandbox, tmp_path: Path) -> None:
    dimensions = 1536  # with 300-word chunks, ~11 KB of JSON per record: 2 MB holds ~170 records
    sb.control("pinecone/configure", {"dimension": dimensions})
    settings = make_settings(sb, tmp_path, embedding_dimensions=dimensions)
    embedder = OpenAIEmbedder(settings)
    store = build_store(settings, dimensions=dimensions)

    report = run_ingest(_docs(480, 300), embedder, store, IngestOptions(batch_docs=8))

    assert report.status == "verified" and report.upserted == report.verified == report.chunks == 480
    # 60 document batches, > 3.6 MB of records (≥ 6 KB of values each): whole requests only, packed end to end.
    assert 2 <= _requests(sb, "pinecone POST /vectors/upsert") <= 4
    assert _requests(sb, "openai POST /v1/embeddings") == math.ceil(report.tokens / 300_000)
    assert rejections(sb) == {}


def test_a_newer_copy_in_a_later_batch_replaces_the_unsent_older_one(sb: RunningSandbox, tmp_path: Path) -> None:
    settings = make_settings(sb, tmp_path)
    embedder = OpenAIEmbedder(settings)
    store = build_store(settings, dimensions=DIM)
    gen = TextGen(5)
    long_text = "\n\n".join(gen.paragraph(6) for _ in range(12))
    old = Document(id="jira:1", source="jira", title="One", text=long_text, created_at=T0, updated_at=T0)
    new = Document(id="jira:1", source="jira", title="One", text="short now", created_at=T0, updated_at=T1)
    others = _docs(6, 20)

    report = run_ingest([old, *others[:3], new, *others[3:]], embedder, store, IngestOptions(batch_docs=2))

    assert report.status == "verified"
    assert sorted(i for i in store.list_ids("jira:1#")) == ["jira:1#0"]
    assert store.fetch_metadata(["jira:1#0"])["jira:1#0"]["text"] == "One\n\nshort now"


T1 = datetime(2026, 10, 2, tzinfo=UTC)
