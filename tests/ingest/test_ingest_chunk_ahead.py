"""Chunking ahead in a worker process gives exactly the chunks of in-process chunking, in order."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psutil

from ingest.chunk_ahead import ChunkAhead, chunked_batches
from ingest.chunking import Chunk, chunk_document
from ingest.document import Document
from ingest.embedders import OpenAIEmbedder
from ingest.factory import build_store
from ingest.pipeline import IngestOptions, run_ingest
from sandbox.server import RunningSandbox
from sandbox.text import TextGen
from tests.ingest.ingest_helpers import DIM, make_settings

T0 = datetime(2026, 10, 1, tzinfo=UTC)
MODEL = "text-embedding-3-small"


def _docs(count: int) -> list[Document]:
    gen = TextGen(5)
    odd = ["", "日本語のテキストです。" * 300, "https://example.com/" + "a1b2" * 900, "short"]
    docs = []
    for n in range(count):
        text = odd[n % 4] if n % 9 == 0 else "\n\n".join(gen.paragraph() for _ in range(1 + n % 5))
        title = f"Issue {n}"
        docs.append(Document(id=f"jira:{n}", source="jira", title=title, text=text, created_at=T0, updated_at=T0))
    return docs


def _fields(chunks: list[Chunk]) -> list[tuple[object, ...]]:
    return [(c.id, c.doc_id, c.index, c.count, c.text, c.body_start, c.content_hash, c.tokens, list(c.token_ids))
            for c in chunks]  # fmt: skip


def _worker_pids() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True) if "spawn_main" in " ".join(
        child.cmdline())}  # fmt: skip


def test_worker_chunks_are_the_in_process_chunks() -> None:
    docs = _docs(40)
    with ChunkAhead(160, MODEL) as ahead:
        futures = [ahead.submit(docs[start : start + 7]) for start in range(0, len(docs), 7)]
        from_worker = [chunks for future in futures for chunks in future.result(timeout=120)]
        assert _worker_pids()
    assert [_fields(chunks) for chunks in from_worker] == [_fields(chunk_document(d, 160, MODEL)) for d in docs]
    assert not _worker_pids()  # closed: the worker process is gone


def _started_and_ready(max_tokens: int, model: str) -> ChunkAhead:
    ahead = ChunkAhead(max_tokens, model)
    ahead.wait_ready(timeout_s=120)  # deterministic: every batch after the start goes to the worker
    return ahead


def test_batches_keep_their_order_and_the_worker_takes_over_after_the_threshold() -> None:
    docs = _docs(60)
    batches = [docs[start : start + 5] for start in range(0, len(docs), 5)]
    seen = list(
        chunked_batches(batches, lambda b: b, 512, MODEL, parallel=True, start_after_docs=10,
                        start_worker=_started_and_ready)
    )  # fmt: skip
    assert [batch for batch, _ in seen] == batches
    assert [chunks is None for _, chunks in seen] == [True, True] + [False] * 10  # 10 documents in-process
    for batch, chunks in seen[2:]:
        assert [_fields(c) for c in chunks] == [_fields(chunk_document(d, 512, MODEL)) for d in batch]
    assert not _worker_pids()


def test_closing_early_stops_the_worker() -> None:
    batches = [_docs(20)[start : start + 2] for start in range(0, 20, 2)]
    iterator = chunked_batches(batches, lambda b: b, 512, MODEL, parallel=True, start_after_docs=0,
                               start_worker=_started_and_ready)  # fmt: skip
    next(iterator)
    assert _worker_pids()
    iterator.close()  # what run_ingest does on a budget stop or an error
    assert not _worker_pids()


def test_an_ingest_with_the_worker_stores_what_an_in_process_ingest_stores(sb: RunningSandbox, tmp_path: Path) -> None:
    docs = _docs(150)
    settings = make_settings(sb, tmp_path)
    results = {}
    for worker in (False, True):
        sb.control("reset")
        sb.control("pinecone/configure", {"dimension": DIM})
        store = build_store(settings, dimensions=DIM)
        options = IngestOptions(batch_docs=10, chunk_worker=worker, chunk_worker_after_docs=20)
        report = run_ingest(docs, OpenAIEmbedder(settings), store, options)
        ids = [chunk.id for doc in docs for chunk in chunk_document(doc, OpenAIEmbedder.max_chunk_tokens, MODEL)]
        stored = store.fetch_metadata(ids)
        results[worker] = (report.chunks, report.embedded, report.verified, report.tokens, stored)
        assert report.status == "verified" and report.verified == len(ids)
    assert results[True] == results[False]


def test_a_worker_that_dies_leaves_its_batches_to_the_caller() -> None:
    docs = _docs(40)
    batches = [docs[start : start + 4] for start in range(0, len(docs), 4)]
    iterator = chunked_batches(batches, lambda b: b, 512, MODEL, parallel=True, start_after_docs=0,
                               start_worker=_started_and_ready)  # fmt: skip
    first, chunks = next(iterator)  # the worker had batches queued ahead of this one
    assert chunks is not None
    for pid in _worker_pids():
        psutil.Process(pid).kill()  # what an out-of-memory kill does
    rest = list(iterator)
    assert [batch for batch, _ in [(first, chunks), *rest]] == batches  # nothing lost, order kept
    assert any(chunks is None for _, chunks in rest)  # the caller chunks what the dead worker had
    for batch, made in rest:
        if made is not None:  # results the worker delivered before it died are still exact
            assert [_fields(c) for c in made] == [_fields(chunk_document(d, 512, MODEL)) for d in batch]
    assert not _worker_pids()


def test_a_worker_that_cannot_start_leaves_everything_to_the_caller() -> None:
    def cannot_start(max_tokens: int, model: str) -> ChunkAhead:
        raise OSError("no /dev/shm in this container")

    batches = [_docs(12)[start : start + 3] for start in range(0, 12, 3)]
    seen = list(chunked_batches(batches, lambda b: b, 512, MODEL, parallel=True, start_after_docs=0,
                                start_worker=cannot_start))  # fmt: skip
    assert seen == [(batch, None) for batch in batches]
