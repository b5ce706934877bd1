"""Flat per-chunk metadata that always fits Pinecone's 40,960-byte limit — measured, not guessed.

The predecessor wrote metadata over 40 KB; Pinecone rejected whole batches while the logs said "upserted".
Here the size is measured as compact JSON bytes and, when over, the optional fields shrink (largest first)
until it fits.
The chunk ``text`` is never cut: chunking keeps it within ``MAX_CHUNK_BYTES`` stored bytes, which leaves room
for the other required fields (``_REQUIRED_FIELDS_BYTES``) and for the document's ``acl`` with its per-dimension
fields (``core/acl.py``), which are never cut either; so only optional fields ever shrink.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

from core.acl import ACL_FIELDS, MAX_ACL_BYTES, acl_fields
from ingest.chunking import MAX_CHUNK_BYTES, Chunk
from ingest.document import MAX_SOURCE_LEN, MAX_VECTOR_ID_LEN, Document
from ingest.errors import MetadataTooLarge

__all__ = [
    "ACL_KEYS",
    "MAX_METADATA_BYTES",
    "REQUIRED_KEYS",
    "RESERVED_KEYS",
    "chunk_metadata",
    "doc_fingerprint",
    "metadata_size",
]

MAX_METADATA_BYTES = 40_960
MAX_STRING_BYTES = 2_000  # a source field longer than this is cut (descriptions belong in the text)
MAX_LIST_ITEMS = 100
MAX_LIST_ITEM_BYTES = 200
_MIN_CUT_BYTES = 64  # below this a string is dropped rather than halved again

# Never removed or cut: the pipeline, verification and search depend on them.
REQUIRED_KEYS = frozenset(
    {
        "source",
        "doc_id",
        "chunk_index",
        "chunk_count",
        "text",
        "created_at",
        "updated_at",
        "content_hash",
        "embedding_model",
        "doc_hash",
    }
)
# Never cut or removed either: an acl stored cut would show a document to the wrong readers. Its size is bounded
# when the Document is built (core/acl.py MAX_ACL_BYTES), and room for it is reserved below.
ACL_KEYS = frozenset({"acl", *ACL_FIELDS})
_UNCUT_KEYS = REQUIRED_KEYS | ACL_KEYS
# Document metadata cannot overwrite these.
RESERVED_KEYS = REQUIRED_KEYS | ACL_KEYS | {"title", "url"}
# The required fields but the text, at their largest: keys and punctuation, a doc id of printable ASCII (every
# character escaped, at worst) and a source (6 bytes a character escaped), two hashes, four numbers, and a
# model name of up to 1 KB.
_REQUIRED_FIELDS_BYTES = 256 + 2 * MAX_VECTOR_ID_LEN + 6 * MAX_SOURCE_LEN + 64 + 32 + 4 * 24 + 1_024
# The acl list, and its per-dimension fields (parts of the same entries, with their keys and separators).
_ACL_BYTES = 2 * MAX_ACL_BYTES + 128
assert MAX_CHUNK_BYTES + _REQUIRED_FIELDS_BYTES + _ACL_BYTES <= MAX_METADATA_BYTES


def metadata_size(metadata: dict[str, Any]) -> int:
    """Bytes of ``metadata`` as compact JSON — the measure the limit is about."""
    # orjson writes compact UTF-8, byte for byte what json.dumps(separators=(",", ":"), ensure_ascii=False) does
    # for flat metadata, several times faster.
    return len(orjson.dumps(metadata))


def doc_fingerprint(doc: Document) -> str:
    """Hash of the document fields that land in metadata but not in the chunk text (url, source fields, acl).

    ``updated_at`` is left out on purpose: an edit that changes one paragraph must not re-embed every chunk.
    """
    payload = {"url": doc.url, "created_at": doc.created_at.isoformat(), "meta": doc.metadata, "acl": doc.acl}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def chunk_metadata(doc: Document, chunk: Chunk, embedding_model: str, doc_hash: str | None = None) -> dict[str, Any]:
    """The flat metadata stored with one chunk's vector, guaranteed ≤ ``MAX_METADATA_BYTES``.

    ``doc_hash`` is ``doc_fingerprint(doc)``, when the caller computed it once for all the document's chunks.
    """
    metadata: dict[str, Any] = {
        "source": doc.source,
        "doc_id": doc.id,
        "chunk_index": chunk.index,
        "chunk_count": chunk.count,
        "title": _cut(doc.title, MAX_STRING_BYTES),
        "url": _cut(doc.url, MAX_STRING_BYTES),
        "text": chunk.text,
        "created_at": int(doc.created_at.timestamp()),
        "updated_at": int(doc.updated_at.timestamp()),
        "content_hash": chunk.content_hash,
        "embedding_model": embedding_model,
        "doc_hash": doc_hash or doc_fingerprint(doc),
    }
    if doc.acl:  # whole, never capped (an empty or missing acl stores nothing: hidden from every reader)
        metadata["acl"] = list(doc.acl)
        metadata.update(acl_fields(doc.acl))
    for key, value in doc.metadata.items():
        if key in RESERVED_KEYS or key.startswith("$") or value is None:
            continue
        metadata[key] = _flat(value)
    return _shrink_to_fit(metadata)


def _flat(value: Any) -> Any:
    if isinstance(value, str):
        return _cut(value, MAX_STRING_BYTES)
    if isinstance(value, list):
        return _capped_list(value)
    return value  # bool / int / float pass through


def _capped_list(items: list[str]) -> list[str]:
    return [_cut(item, MAX_LIST_ITEM_BYTES) for item in items[:MAX_LIST_ITEMS]]


def _cut(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes, on a character boundary."""
    raw = text.encode()
    return text if len(raw) <= max_bytes else raw[:max_bytes].decode(errors="ignore")


def _shrink_to_fit(metadata: dict[str, Any]) -> dict[str, Any]:
    while (size := metadata_size(metadata)) > MAX_METADATA_BYTES:
        optional = [key for key in metadata if key not in _UNCUT_KEYS]
        if not optional:
            raise MetadataTooLarge(
                f"metadata of {metadata['doc_id']}#{metadata['chunk_index']} is {size} bytes "
                f"(limit {MAX_METADATA_BYTES}) with only required fields and the acl left; the chunk text is too large"
            )
        largest = max(optional, key=lambda k: metadata_size({k: metadata[k]}))
        metadata[largest] = _halve(metadata[largest])
        if metadata[largest] is None:
            del metadata[largest]
    return metadata


def _halve(value: Any) -> Any:
    """A smaller version of a field, or None when it should go entirely."""
    if isinstance(value, str) and len(value.encode()) > _MIN_CUT_BYTES:
        return _cut(value, len(value.encode()) // 2)
    if isinstance(value, list) and len(value) > 1:
        return value[: len(value) // 2]
    return None
