"""PineconeStore through the official SDK against the sandbox's data plane."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from ingest.errors import StoreError, UpsertShortfall
from ingest.protocols import Record
from ingest.stores import PineconeStore
from sandbox.server import RunningSandbox
from tests.ingest.ingest_helpers import DIM, make_settings, rejections


def _unit(seed: int) -> list[float]:
    rng = random.Random(seed)
    values = [rng.uniform(-1, 1) for _ in range(DIM)]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


def _record(doc: str, index: int, source: str = "jira", text_bytes: int = 10) -> Record:
    metadata = {"source": source, "doc_id": doc, "chunk_index": index, "text": "w" * text_bytes}
    return Record(f"{doc}#{index}", _unit(hash((doc, index)) % 100_000), metadata)


def test_round_trip_in_an_explicit_namespace(sb: RunningSandbox, settings) -> None:
    store = PineconeStore(settings)
    records = [_record("jira:1", i) for i in range(150)] + [_record("jira:10", i) for i in range(3)]
    records.append(_record("slack:C1:1.5", 0, source="slack"))
    assert store.upsert(records) == 154
    assert store.count() == 154

    assert sorted(store.list_ids("jira:1#")) == sorted(f"jira:1#{i}" for i in range(150))  # 2 pages of 100
    fetched = store.fetch_metadata(["jira:1#0", "slack:C1:1.5#0", "nope#1"])
    assert set(fetched) == {"jira:1#0", "slack:C1:1.5#0"} and fetched["jira:1#0"]["chunk_index"] == 0

    top = store.query(records[5].values, top_k=2)
    assert top[0].id == records[5].id and top[0].score == pytest.approx(1.0, abs=1e-4)
    assert [m.id for m in store.query(records[5].values, top_k=5, source="slack")] == ["slack:C1:1.5#0"]

    store.delete([f"jira:1#{i}" for i in range(100, 150)])
    assert store.count() == 104
    stats = sb.control("pinecone/stats")
    assert set(stats["namespaces"]) == {settings.pinecone_namespace}  # nothing landed in the default namespace


def test_batches_stay_within_1000_records_and_2_mb(sb: RunningSandbox, settings) -> None:
    store = PineconeStore(settings)
    many = [_record("github:acme/api:pr:1", i) for i in range(2_500)]
    heavy = [_record("notion:big", i, text_bytes=30_000) for i in range(150)]  # ~4.5 MB of metadata
    assert store.upsert(many + heavy) == 2_650
    assert store.count() == 2_650
    assert len(store.fetch_metadata([r.id for r in many])) == 2_500  # 3 fetch calls of ≤ 1000 ids
    store.delete([r.id for r in many])
    assert store.count() == 150
    assert rejections(sb) == {}


def test_a_short_upserted_count_raises_naming_the_shortfall(sb: RunningSandbox, settings) -> None:
    sb.control("faults", {"pinecone": {"short_upserted_count": 2}})
    store = PineconeStore(settings)
    with pytest.raises(UpsertShortfall, match=r"acknowledged 8 of 10 .*short by 2.*jira:7#0"):
        store.upsert([_record("jira:7", i) for i in range(10)])


def test_server_errors_are_retried_then_reported_without_the_key(sb: RunningSandbox, tmp_path: Path) -> None:
    marker = "pcsk-MARKER-9876543210-never-print-me"
    store = PineconeStore(make_settings(sb, tmp_path, pinecone_api_key=marker), attempts=1)
    sb.control("faults", {"pinecone": {"rate_429": 0.5, "retry_after": 0.05}})
    assert store.upsert([_record("jira:8", i) for i in range(20)]) == 20
    sb.control("faults", {"pinecone": {"rate_429": 0.0, "rate_5xx": 1.0}})
    with pytest.raises(StoreError) as caught:
        store.fetch_metadata(["jira:8#0"])
    assert marker not in str(caught.value) and "fetch" in str(caught.value)
