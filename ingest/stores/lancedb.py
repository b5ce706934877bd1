"""The embedded-default vector store: one LanceDB table under ``BACKFILL_HOME``.

Schema is fixed and simple: ``id``, ``source`` and ``doc_id`` as columns (for filters and prefix listing), the
vector, and the whole flat metadata as one JSON string (so new source fields never change the schema).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path

import lancedb
import pyarrow as pa

from core.acl import visible_to
from ingest.errors import StoreError, UpsertShortfall, sample
from ingest.protocols import Match, Record

__all__ = ["LanceDBStore"]

_ID_BATCH = 1_000  # ids per SQL IN-list, to keep predicates a sane size
_INDEX_FROM_ROWS = 1_000  # below this a scan is as fast as an index


def _quote(value: str) -> str:
    """A SQL string literal (single quotes doubled), so an id can never break out of the predicate."""
    return "'" + value.replace("'", "''") + "'"


def _in_list(ids: Sequence[str]) -> str:
    return "id IN (" + ", ".join(_quote(i) for i in ids) + ")"


def _batched(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class LanceDBStore:
    """``VectorStore`` on a local LanceDB table (cosine distance)."""

    def __init__(self, path: str | Path, dimensions: int, table: str = "vectors") -> None:
        self.path = Path(path)
        self.dimensions = dimensions
        self.path.mkdir(parents=True, exist_ok=True)
        self._db = lancedb.connect(str(self.path))
        self._schema = pa.schema(
            [
                pa.field("id", pa.string(), nullable=False),
                pa.field("source", pa.string()),
                pa.field("doc_id", pa.string()),
                pa.field("vector", pa.list_(pa.float32(), dimensions)),
                pa.field("metadata", pa.string()),
            ]
        )
        try:
            self._table = self._db.open_table(table)
        except ValueError:  # not there yet (another process may create it at the same moment: exist_ok)
            self._table = self._db.create_table(table, schema=self._schema, exist_ok=True)
        width = self._table.schema.field("vector").type.list_size
        if width != dimensions:
            raise StoreError(
                f"LanceDB table {table!r} at {self.path} holds {width}-d vectors but the embedder makes "
                f"{dimensions}-d ones; use another BACKFILL_HOME or re-create the table"
            )

    def upsert(self, records: Sequence[Record]) -> int:
        if not records:
            return 0
        unique = {record.id: record for record in records}  # merge_insert refuses duplicate keys in one batch
        rows = pa.Table.from_pylist([self._row(record) for record in unique.values()], schema=self._schema)
        result = self._table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(rows)
        written = int(getattr(result, "num_inserted_rows", 0)) + int(getattr(result, "num_updated_rows", 0))
        if written != len(unique):
            raise UpsertShortfall(
                f"LanceDB wrote {written} of {len(unique)} records; sample {sample(list(unique))}",
                missing=list(unique),
            )
        return len(records)

    def update_metadata(self, metadata: Mapping[str, Mapping[str, object]]) -> int:
        """Rewrite the rows' metadata JSON, keeping their vectors (read back and written in one merge)."""
        ids = list(dict.fromkeys(metadata))
        rows: list[dict[str, object]] = []
        for batch in _batched(ids, _ID_BATCH):
            rows.extend(self._select(_in_list(batch), ["id", "vector", "metadata"], len(batch)))
        records = []
        for row in rows:
            vid = str(row["id"])
            stored = json.loads(str(row["metadata"]))
            records.append(Record(vid, list(row["vector"]), {**stored, **metadata[vid]}))  # type: ignore[call-overload]
        if records:
            self.upsert(records)
        return len(ids)

    def fetch_metadata(self, ids: Sequence[str]) -> dict[str, dict[str, object]]:
        found: dict[str, dict[str, object]] = {}
        for batch in _batched(list(dict.fromkeys(ids)), _ID_BATCH):
            rows = self._select(_in_list(batch), ["id", "metadata"], len(batch))
            found.update({row["id"]: json.loads(row["metadata"]) for row in rows})
        return found

    def list_ids(self, prefix: str) -> Iterator[str]:
        predicate = f"starts_with(id, {_quote(prefix)})"
        total = self._table.count_rows(predicate)
        if total:
            yield from sorted(row["id"] for row in self._select(predicate, ["id"], total))

    def delete(self, ids: Iterable[str]) -> None:
        for batch in _batched(list(dict.fromkeys(ids)), _ID_BATCH):
            self._table.delete(_in_list(batch))

    def query(
        self,
        vector: Sequence[float],
        top_k: int,
        source: str | None = None,
        grants: Collection[str] | None = None,
        where: Mapping[str, str | bool] | None = None,
    ) -> list[Match]:
        """Nearest rows. The acl lives inside the metadata JSON, which a where clause cannot read, so with
        ``grants`` (or ``where``: metadata fields) the search widens (×4 each round) until ``top_k`` visible rows are
        found or the table is read."""
        filtered = grants is not None or bool(where)
        limit = top_k * 4 if filtered else top_k
        while True:
            search = self._table.search(list(vector), vector_column_name="vector").distance_type("cosine")
            if source is not None:
                search = search.where(f"source = {_quote(source)}", prefilter=True)
            rows = search.select(["id", "metadata", "_distance"]).limit(limit).to_list()
            matches = [Match(row["id"], 1.0 - float(row["_distance"]), json.loads(row["metadata"])) for row in rows]
            if not filtered:
                return matches
            visible = [
                m for m in matches
                if (grants is None or visible_to(m.metadata.get("acl"), grants)) and _holds(m.metadata, where or {})
            ]  # fmt: skip
            if len(visible) >= top_k or len(rows) < limit:
                return visible[:top_k]
            limit *= 4

    def count(self) -> int:
        return int(self._table.count_rows())

    def finish(self) -> None:
        # Every write makes a table version; without compaction the disk doubles within a few hundred writes.
        # LanceDB warns that this breaks readers of old versions; a run's finish() is the one moment none
        # exist.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"optimize\(cleanup_older_than=0\)")
            self._table.optimize(cleanup_older_than=timedelta(0))
        if self.count() >= _INDEX_FROM_ROWS and not self._has_id_index():
            self._table.create_scalar_index("id", index_type="BTREE", replace=True)

    def _has_id_index(self) -> bool:
        return any("id" in list(getattr(index, "columns", [])) for index in self._table.list_indices())

    def _select(self, predicate: str, columns: list[str], limit: int) -> list[dict[str, object]]:
        return self._table.search().where(predicate).select(columns).limit(max(limit, 1)).to_list()

    def _row(self, record: Record) -> dict[str, object]:
        if len(record.values) != self.dimensions:
            raise StoreError(f"record {record.id} has {len(record.values)} values, expected {self.dimensions}")
        metadata = record.metadata
        return {
            "id": record.id,
            "source": str(metadata.get("source", "")),
            "doc_id": str(metadata.get("doc_id", "")),
            "vector": record.values,
            "metadata": json.dumps(metadata, separators=(",", ":"), ensure_ascii=False),
        }


def _holds(metadata: Mapping[str, object], where: Mapping[str, str | bool]) -> bool:
    """Each ``where`` field equals its value, or is a list holding it (as Pinecone's ``$in`` reads a list field)."""
    for key, value in where.items():
        stored = metadata.get(key)
        if not (stored == value or (isinstance(stored, list) and value in stored)):
            return False
    return True
