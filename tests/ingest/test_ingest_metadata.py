"""Chunk metadata is flat, keeps the whole text, and always fits 40,960 bytes."""

from __future__ import annotations

from datetime import UTC, datetime

from ingest.chunking import chunk_document
from ingest.document import Document
from ingest.metadata import MAX_METADATA_BYTES, chunk_metadata, metadata_size
from sandbox.text import TextGen

MODEL = "text-embedding-3-small"
CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
UPDATED = datetime(2026, 10, 1, tzinfo=UTC)


def _doc(metadata: dict, title: str = "Title", url: str = "https://x.test/1") -> Document:
    return Document(
        id="jira:10042",
        source="jira",
        title=title,
        text=TextGen(2).paragraph(60),
        url=url,
        created_at=CREATED,
        updated_at=UPDATED,
        metadata=metadata,
    )


def test_fields_are_flat_and_complete() -> None:
    doc = _doc({"project": "PROJ", "labels": ["a", "b"], "points": 3, "blocked": False})
    chunk = chunk_document(doc, 512, MODEL)[1]
    meta = chunk_metadata(doc, chunk, MODEL)
    assert meta["source"] == "jira" and meta["doc_id"] == "jira:10042"
    assert meta["chunk_index"] == 1 and meta["chunk_count"] == chunk.count
    assert meta["text"] == chunk.text
    assert meta["created_at"] == int(CREATED.timestamp()) and isinstance(meta["updated_at"], int)
    assert meta["content_hash"] == chunk.content_hash and meta["embedding_model"] == MODEL
    assert meta["project"] == "PROJ" and meta["labels"] == ["a", "b"] and meta["points"] == 3
    assert all(isinstance(v, str | int | float | bool | list) for v in meta.values())


def test_one_hundred_kilobytes_of_fields_fit_and_keep_the_whole_text() -> None:
    fields = {f"field_{i}": "x" * 5_000 for i in range(20)}
    fields["people"] = [f"person-{i}-" + "y" * 300 for i in range(400)]
    fields["description"] = "é" * 30_000  # multi-byte: bytes, not characters, count
    doc = _doc(fields, title="T" * 2_000, url="https://x.test/" + "p" * 3_000)
    assert sum(len(str(v).encode()) for v in fields.values()) > 100_000
    for chunk in chunk_document(doc, 512, MODEL):
        meta = chunk_metadata(doc, chunk, MODEL)
        assert metadata_size(meta) <= MAX_METADATA_BYTES
        assert meta["text"] == chunk.text
        assert meta["content_hash"] == chunk.content_hash


def test_document_metadata_cannot_overwrite_reserved_keys() -> None:
    doc = _doc({"text": "evil", "doc_id": "other:1", "source": "slack", "chunk_index": 99, "status": "Done"})
    chunk = chunk_document(doc, 512, MODEL)[0]
    meta = chunk_metadata(doc, chunk, MODEL)
    assert meta["text"] == chunk.text and meta["doc_id"] == "jira:10042"
    assert meta["source"] == "jira" and meta["chunk_index"] == 0 and meta["status"] == "Done"
