"""The two VectorStore implementations: LanceDB (embedded default) and Pinecone (production).

Imported lazily: ``import ingest.stores`` (or ``ingest.stores.pinecone``) must not load lancedb and pyarrow
(seconds and ~100 MB) when Pinecone is the store, nor the Pinecone SDK when LanceDB is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.stores.lancedb import LanceDBStore
    from ingest.stores.pinecone import PineconeStore

__all__ = ["LanceDBStore", "PineconeStore"]


def __getattr__(name: str) -> Any:
    if name == "LanceDBStore":
        from ingest.stores.lancedb import LanceDBStore

        return LanceDBStore
    if name == "PineconeStore":
        from ingest.stores.pinecone import PineconeStore

        return PineconeStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
