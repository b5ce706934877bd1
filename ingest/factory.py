"""Choose the embedder and the store from settings (``BACKFILL_EMBEDDER``, ``BACKFILL_STORE``).

Each implementation is imported only when chosen: a production install (core dependencies, no extras) never
imports lancedb, pyarrow, torch or sentence-transformers (tests/deploy/test_managed_imports.py).
"""

from __future__ import annotations

from core.settings import Settings, require
from ingest.errors import StoreError
from ingest.protocols import Embedder, VectorStore

__all__ = ["build_embedder", "build_store"]


def build_embedder(settings: Settings) -> Embedder:
    """The configured embedder; fails naming the missing setting before any request."""
    if settings.backfill_embedder == "openai":
        require(settings, "openai_api_key")
        from ingest.embedders.openai_embedder import OpenAIEmbedder

        return OpenAIEmbedder(settings)
    from ingest.embedders.local_embedder import LocalEmbedder

    return LocalEmbedder()


def build_store(settings: Settings, dimensions: int) -> VectorStore:
    """The configured store for vectors of ``dimensions``; fails naming the missing setting."""
    if settings.backfill_store == "pinecone":
        require(settings, "pinecone_api_key", "pinecone_index_host")
        from ingest.stores.pinecone import PineconeStore

        return PineconeStore(settings)
    try:
        from ingest.stores.lancedb import LanceDBStore
    except ModuleNotFoundError as exc:
        if exc.name not in {"lancedb", "pyarrow"}:
            raise
        raise StoreError(
            f"BACKFILL_STORE=lancedb needs the 'embedded' extra: pip install 'backfill[embedded]' (missing: {exc.name})"
        ) from None

    return LanceDBStore(settings.backfill_home / "lancedb", dimensions=dimensions)
