"""``bench_ingest`` end to end against the simulators (in their own process): figures complete, requests minimal.

No timing assertions: wall time, rates and RSS depend on the machine. Request counts do not.
"""

from __future__ import annotations

import json

import pytest

from backfill.bench import (
    bench_ingest,
    minimum_embedding_requests,
    minimum_upsert_requests,
    print_bench,
    synthetic_documents,
)

DOCS = 300
TOP_LEVEL = {
    "docs",
    "dimensions",
    "seed",
    "batch_docs",
    "status",
    "unique",
    "chunks",
    "embedded",
    "upserted",
    "verified",
    "deleted",
    "tokens",
    "upsert_json_bytes",
    "wall_s",
    "docs_per_s",
    "chunks_per_s",
    "pipeline_cpu_s",
    "pipeline_cpu_ms_per_chunk",
    "sandbox_cpu_ms_per_chunk",
    "time_split_s",
    "sandbox_cpu_s",
    "chunk_worker_cpu_s",
    "chunk_worker_peak_rss_mb",
    "peak_rss_mb",
    "start_rss_mb",
    "requests",
    "machine",
}
REQUESTS = {
    "embeddings",
    "embeddings_min",
    "embeddings_ratio",
    "upserts",
    "upserts_min",
    "upserts_ratio",
    "fetches",
    "lists",
    "deletes",
    "all",
    "rejections",
}


@pytest.fixture(scope="module")
def result() -> dict:
    # One document batch holds the whole run, so the counts measure how the embedder and the store pack
    # requests. Across document batches the pipeline flushes partial requests; docs/PERFORMANCE.md has the
    # figures for the default batch size.
    return bench_ingest(DOCS, dimensions=256, seed=7, batch_docs=DOCS)


def test_result_has_every_field_and_is_json(result: dict) -> None:
    assert set(result) == TOP_LEVEL
    assert set(result["requests"]) == REQUESTS
    assert {"cpus", "python", "platform", "load_average_1m"} <= set(result["machine"])
    json.dumps(result)  # the CLI's --json prints it as is


def test_every_chunk_is_embedded_written_and_verified(result: dict) -> None:
    assert result["status"] == "verified"
    assert result["unique"] == DOCS
    assert result["chunks"] == result["embedded"] == result["upserted"] == result["verified"] > DOCS
    assert result["requests"]["rejections"] == {}


def test_requests_are_within_five_percent_of_the_minimum(result: dict) -> None:
    requests = result["requests"]
    assert requests["embeddings_min"] == minimum_embedding_requests(result["embedded"], result["tokens"]) >= 1
    assert requests["upserts_min"] == minimum_upsert_requests(result["upserted"], result["upsert_json_bytes"]) >= 1
    assert requests["embeddings"] <= 1.05 * requests["embeddings_min"]
    assert requests["upserts"] <= 1.05 * requests["upserts_min"]
    # The read-back needs at least one fetch per 1,000 written ids.
    assert requests["fetches"] >= -(-result["verified"] // 1_000)


def test_print_bench_names_every_figure(result: dict, capsys: pytest.CaptureFixture[str]) -> None:
    print_bench(result)
    out = capsys.readouterr().out
    for label in ("docs/s", "chunks/s", "embedding requests", "upsert requests", "tokens", "peak RSS"):
        assert label in out


def test_minimum_request_counts_take_the_tighter_limit() -> None:
    assert minimum_embedding_requests(0, 0) == 0
    assert minimum_embedding_requests(2_049, 1_000) == 2  # inputs bind
    assert minimum_embedding_requests(10, 300_001) == 2  # tokens bind
    assert minimum_upsert_requests(1_001, 10) == 2  # records bind
    assert minimum_upsert_requests(10, 4_000_001) == 3  # bytes bind


def test_synthetic_documents_are_lazy_and_deterministic() -> None:
    first = [doc.model_dump() for doc in synthetic_documents(5, seed=3)]
    again = [doc.model_dump() for doc in synthetic_documents(5, seed=3)]
    assert first == again
    assert len({doc["id"] for doc in first}) == 5
    endless = synthetic_documents(10**9)  # only a generator can hand out the first of a billion at once
    assert next(endless).id == "bench:00000000"
