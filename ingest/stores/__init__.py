"""The two VectorStore implementations: LanceDB (embedded default) and Pinecone (production)."""

from ingest.stores.lancedb import LanceDBStore
from ingest.stores.pinecone import PineconeStore

__all__ = ["LanceDBStore", "PineconeStore"]
