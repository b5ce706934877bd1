"""LanceDBStore for real, on disk under tmp_path."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from ingest.errors import StoreError
from ingest.protocols import Record
from ingest.stores import LanceDBStore

DIM = 8


def _unit(seed: int) -> list[float]:
    rng = random.Random(seed)
    values = [rng.uniform(-1, 1) for _ in range(DIM)]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


def _record(doc: str, index: int, source: str = "jira", text: str = "t") -> Record:
    metadata = {"source": source, "doc_id": doc, "chunk_index": index, "text": text, "content_hash": f"h{index}"}
    return Record(f"{doc}#{index}", _unit(hash((doc, index)) % 10_000), metadata)


def test_upsert_fetch_list_delete_query_count(tmp_path: Path) -> None:
    store = LanceDBStore(tmp_path / "lancedb", dimensions=DIM)
    records = [_record("jira:1", i) for i in range(5)] + [_record("jira:10", i) for i in range(3)]
    records += [_record("slack:C1:1.2", 0, source="slack", text="it's quoted")]
    assert store.upsert(records) == 9
    assert store.upsert(records) == 9  # idempotent merge on id
    assert store.count() == 9

    assert sorted(store.list_ids("jira:1#")) == [f"jira:1#{i}" for i in range(5)]  # not jira:10#…
    fetched = store.fetch_metadata(["jira:1#0", "slack:C1:1.2#0", "missing#0", "x' OR '1'='1"])
    assert set(fetched) == {"jira:1#0", "slack:C1:1.2#0"}
    assert fetched["slack:C1:1.2#0"]["text"] == "it's quoted"

    store.delete(["jira:1#3", "jira:1#4", "never#0"])
    assert sorted(store.list_ids("jira:1#")) == ["jira:1#0", "jira:1#1", "jira:1#2"]

    target = records[0]
    top = store.query(target.values, top_k=3)
    assert top[0].id == target.id and top[0].score == pytest.approx(1.0, abs=1e-5)
    only_slack = store.query(target.values, top_k=3, source="slack")
    assert [m.id for m in only_slack] == ["slack:C1:1.2#0"]

    store.finish()
    assert store.count() == 7
    reopened = LanceDBStore(tmp_path / "lancedb", dimensions=DIM)
    assert reopened.count() == 7


def test_a_table_of_another_dimension_is_refused(tmp_path: Path) -> None:
    LanceDBStore(tmp_path / "db", dimensions=DIM)
    with pytest.raises(StoreError, match="8-d vectors"):
        LanceDBStore(tmp_path / "db", dimensions=16)


def test_query_where_keeps_only_chunks_whose_metadata_holds_the_values(tmp_path: Path) -> None:
    store = LanceDBStore(tmp_path / "lancedb", dimensions=DIM)
    records = [_record(f"notion:{n}", 0, source="notion") for n in range(12)]
    for n, record in enumerate(records):
        record.metadata["parent_id"] = "p-even" if n % 2 == 0 else "p-odd"
        record.metadata["tags"] = ["a", "b"] if n < 3 else ["c"]
    store.upsert(records)
    even = store.query(_unit(1), top_k=4, where={"parent_id": "p-even"})
    assert len(even) == 4 and all(m.metadata["parent_id"] == "p-even" for m in even)
    tagged = store.query(_unit(1), top_k=10, where={"tags": "a", "parent_id": "p-odd"})
    assert [m.id for m in tagged] == ["notion:1#0"]
    assert store.query(_unit(1), top_k=3, where={"parent_id": "nowhere"}) == []
