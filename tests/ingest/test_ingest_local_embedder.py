"""The local MiniLM embedder: offline, 384-d unit vectors, and chunks that it never truncates."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from ingest.chunking import chunk_document
from ingest.document import Document
from ingest.embedders import LocalEmbedder
from sandbox.text import TextGen

NOW = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()  # loading torch and the model takes seconds: once per module


def test_local_embedder_gives_normalised_384_d_vectors_offline(embedder: LocalEmbedder) -> None:
    vectors = embedder.embed(["the deploy pipeline times out", "the deploy pipeline is slow", "bananas"])
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-4) for v in vectors)
    similar = sum(a * b for a, b in zip(vectors[0], vectors[1], strict=True))
    unrelated = sum(a * b for a, b in zip(vectors[0], vectors[2], strict=True))
    assert similar > unrelated


def test_chunks_sized_for_minilm_fit_its_256_word_piece_window(embedder: LocalEmbedder) -> None:
    gen = TextGen(11)
    text = "\n\n".join(gen.paragraph() for _ in range(80)) + "\n\n" + " ".join(gen.words(400).split())
    text += "\n\nhttps://api.example.com/v2/items?id=" + "9f8e7d6c5b4a" * 40
    doc = Document(
        id="notion:p1", source="notion", title="Incident review " * 30, text=text, created_at=NOW, updated_at=NOW
    )
    chunks = chunk_document(doc, embedder.max_chunk_tokens, embedder.model)
    assert len(chunks) > 10
    longest = max(embedder.word_pieces(chunk.text) for chunk in chunks)
    assert longest <= embedder.max_word_pieces == 256
