"""OpenAIEmbedder through the official SDK against the sandbox's /v1/embeddings."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ingest.embedders import OpenAIEmbedder
from ingest.errors import EmbeddingError
from ingest.tokens import count_tokens, token_ids
from sandbox.server import RunningSandbox
from sandbox.text import TextGen
from tests.ingest.ingest_helpers import DIM, make_settings, rejections


def test_many_inputs_are_split_within_both_bounds(sb: RunningSandbox, settings) -> None:
    gen = TextGen(4)
    short = [gen.sentence() for _ in range(2_100)]  # > 2,048 inputs
    long = [gen.words(480) for _ in range(700)]  # ~340k tokens > 300k per request
    assert sum(count_tokens(t) for t in long) > 300_000
    embedder = OpenAIEmbedder(settings)

    vectors = embedder.embed(short + long)

    assert len(vectors) == 2_800 and {len(v) for v in vectors} == {DIM}
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-3) for v in vectors[:50])
    assert embedder.requests >= 3
    assert embedder.tokens_used == sum(count_tokens(t) for t in short + long)
    assert rejections(sb) == {}


def test_order_is_kept_across_concurrent_batches(sb: RunningSandbox, settings) -> None:
    texts = [f"document number {i} about topic {i % 7}" for i in range(300)]
    embedder = OpenAIEmbedder(settings, max_batch_inputs=16, concurrency=4)
    together = embedder.embed(texts)
    alone = [embedder.embed([text])[0] for text in texts[:20:7]]
    for got, want in zip(together[:20:7], alone, strict=True):
        assert got == pytest.approx(want, abs=1e-6)


def test_rate_limits_are_retried(sb: RunningSandbox, settings) -> None:
    sb.control("faults", {"openai": {"rate_429": 0.5, "retry_after": 0.05}})
    embedder = OpenAIEmbedder(settings, max_batch_inputs=4)
    vectors = embedder.embed([f"text {i}" for i in range(40)])
    assert len(vectors) == 40
    assert sb.control("counters")["faults"]  # 429s really were injected


def test_errors_never_carry_the_api_key(sb: RunningSandbox, tmp_path: Path) -> None:
    marker = "sk-MARKER-0123456789-never-print-me"
    embedder = OpenAIEmbedder(make_settings(sb, tmp_path, openai_api_key=marker))
    with pytest.raises(EmbeddingError) as caught:
        embedder.embed(["hello"])
    assert marker not in str(caught.value) and marker not in repr(caught.value)
    assert "OPENAI_API_KEY" in str(caught.value)


@pytest.mark.parametrize("dimensions", [1536, 96, 64])
def test_batch_decoding_matches_one_by_one(sb: RunningSandbox, tmp_path: Path, dimensions: int) -> None:
    # Rows of a multiple of 3 bytes (1536 and 96 float32s) are decoded in one go; 64 float32s (256 bytes) are
    # decoded row by row. Either way each row must be exactly the vector of its own text.
    embedder = OpenAIEmbedder(make_settings(sb, tmp_path, embedding_dimensions=dimensions))
    texts = [f"ticket {i} about the {['billing', 'search', 'login'][i % 3]} service" for i in range(25)]

    together = embedder.embed_array(texts)

    assert together.shape == (25, dimensions) and together.dtype.name == "float32"
    for index in (0, 7, 24):
        assert together[index].tolist() == embedder.embed([texts[index]])[0]


@pytest.mark.parametrize("send_ids", [True, False])
def test_token_ids_replace_texts_unless_turned_off(sb: RunningSandbox, tmp_path: Path, send_ids: bool) -> None:
    texts = [f"runbook step {i}: rotate the ingress certificate" for i in range(5)]
    embedder = OpenAIEmbedder(make_settings(sb, tmp_path, openai_send_token_ids=send_ids))

    with_ids = embedder.embed_array(texts, [count_tokens(t) for t in texts], [token_ids(t) for t in texts])

    sent_ids = sb.control("counters")["counters"].get("openai POST /v1/embeddings with token-id inputs", 0)
    assert sent_ids == (1 if send_ids else 0)
    # Either way the vectors are those of the texts (the ids are the texts' own).
    assert with_ids.tolist() == embedder.embed_array(texts).tolist()
