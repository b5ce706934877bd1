"""run_ingest end to end: OpenAI embeddings (sandbox) into LanceDB or Pinecone (sandbox), verified."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.chunking import chunk_document
from ingest.document import Document
from ingest.embedders import OpenAIEmbedder
from ingest.factory import build_store
from ingest.pipeline import IngestOptions, run_ingest
from ingest.protocols import VectorStore
from sandbox.server import RunningSandbox
from sandbox.text import TextGen
from tests.ingest.ingest_helpers import DIM, make_settings, rejections

T0 = datetime(2026, 10, 1, tzinfo=UTC)
FAST = IngestOptions(batch_docs=8, verify_timeout_s=10.0, verify_poll_s=0.2)


def _paragraphs(seed: int, count: int) -> list[str]:
    gen = TextGen(seed)
    return [gen.paragraph(4) for _ in range(count)]


def _doc(n: int, paragraphs: list[str], minutes: int = 0, source: str = "jira") -> Document:
    return Document(
        id=f"{source}:{n}",
        source=source,
        title=f"Issue {n}",
        text="\n\n".join(paragraphs),
        url=f"https://x.test/{n}",
        created_at=T0,
        updated_at=T0 + timedelta(minutes=minutes),
        metadata={"project": "PROJ", "status": "Open"},
    )


def _corpus(docs: int = 12) -> list[Document]:
    return [_doc(n, _paragraphs(n, 3 + n % 9)) for n in range(docs)]


@pytest.fixture(params=["pinecone", "lancedb"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make(sb: RunningSandbox, tmp_path: Path, store_kind: str) -> Callable[..., tuple[OpenAIEmbedder, VectorStore]]:
    def build(**overrides: object) -> tuple[OpenAIEmbedder, VectorStore]:
        settings = make_settings(sb, tmp_path, backfill_store=store_kind, **overrides)
        return OpenAIEmbedder(settings), build_store(settings, dimensions=DIM)

    return build


def test_first_run_verifies_and_a_rerun_embeds_nothing(make, sb: RunningSandbox, store_kind: str) -> None:
    embedder, store = make()
    docs = _corpus()
    first = run_ingest(docs, embedder, store, FAST)
    assert first.status == "verified"
    assert first.documents == first.unique == 12
    assert first.embedded == first.upserted == first.verified == first.chunks == store.count()
    assert first.tokens == embedder.tokens_used > 0
    assert first.estimated_cost_usd == pytest.approx(first.tokens * 0.02 / 1_000_000)

    if store_kind == "pinecone":  # a first backfill lists nothing: no document can have stale chunks yet
        assert not any("/vectors/list" in key for key in sb.control("counters")["counters"])

    used = embedder.tokens_used
    second = run_ingest(docs, embedder, store, FAST)
    assert (second.status, second.tokens, second.embedded, second.upserted) == ("verified", 0, 0, 0)
    assert second.unchanged == first.chunks and embedder.tokens_used == used
    assert rejections(sb) == {}


def test_one_edited_paragraph_re_embeds_only_the_chunks_it_touches(make) -> None:
    embedder, store = make()
    paragraphs = _paragraphs(99, 40)
    before = _doc(1, paragraphs)
    run_ingest([before], embedder, store, FAST)

    paragraphs[20] = paragraphs[20].replace("the", "a", 1) + " One more sentence was added here."
    after = _doc(1, paragraphs, minutes=5)
    old = {c.id: c.content_hash for c in chunk_document(before, embedder.max_chunk_tokens, embedder.model)}
    new = {c.id: c.content_hash for c in chunk_document(after, embedder.max_chunk_tokens, embedder.model)}
    changed = {i for i, h in new.items() if old.get(i) != h}
    assert len(new) >= 6 and 1 <= len(changed) <= 2

    report = run_ingest([after], embedder, store, FAST)
    assert report.embedded == len(changed)
    assert report.unchanged == len(new) - len(changed)
    assert report.status == "verified"


def test_a_shrunken_document_leaves_exactly_its_chunks(make) -> None:
    embedder, store = make()
    paragraphs = _paragraphs(5, 60)
    five = next(
        _doc(1, paragraphs[:n])
        for n in range(1, 60)
        if len(chunk_document(_doc(1, paragraphs[:n]), embedder.max_chunk_tokens, embedder.model)) == 5
    )
    run_ingest([five, _doc(10, paragraphs[:3])], embedder, store, FAST)
    assert len(list(store.list_ids("jira:1#"))) == 5

    two = next(
        _doc(1, paragraphs[:n], minutes=1)
        for n in range(1, 60)
        if len(chunk_document(_doc(1, paragraphs[:n]), embedder.max_chunk_tokens, embedder.model)) == 2
    )
    report = run_ingest([two], embedder, store, FAST)
    assert sorted(store.list_ids("jira:1#")) == ["jira:1#0", "jira:1#1"]
    assert report.deleted == 3
    assert list(store.list_ids("jira:10#")) == ["jira:10#0"]  # a neighbour sharing the prefix digits is kept


def test_dry_run_counts_tokens_and_writes_nothing(make) -> None:
    embedder, store = make()
    report = run_ingest(_corpus(), embedder, store, IngestOptions(dry_run=True))
    assert report.status == "dry_run" and report.tokens > 0 and report.estimated_cost_usd > 0
    assert report.embedded == report.upserted == 0
    assert store.count() == 0 and embedder.tokens_used == 0


def test_a_token_budget_stops_cleanly_and_verifies_what_was_written(make) -> None:
    embedder, store = make()
    full = run_ingest(_corpus(), embedder, store, IngestOptions(dry_run=True, batch_docs=2))
    budget = full.tokens // 2
    report = run_ingest(_corpus(), embedder, store, IngestOptions(batch_docs=2, max_tokens=budget))
    assert report.status == "budget_stopped"
    assert 0 < report.tokens <= budget
    assert report.verified == report.upserted == store.count() > 0


def test_each_step_can_be_wrapped_per_batch_and_per_request_group(make) -> None:
    embedder, store = make()
    calls: list[str] = []

    def step(name: str, fn: Callable[..., object]) -> Callable[..., object]:
        def run(*args: object) -> object:
            calls.append(name)
            return fn(*args)

        return run

    report = run_ingest(_corpus(6), embedder, store, IngestOptions(batch_docs=2), step=step)
    assert report.status == "verified"
    assert calls.count("plan-batch") == calls.count("delete-stale") == 3
    # Six small documents make less than one embedding request: carried across batches, sent once at the end.
    assert calls.count("embed-and-upsert") == 1
    assert calls[-2:] == ["embed-and-upsert", "verify"]
