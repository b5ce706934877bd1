"""The two Embedder implementations: OpenAI (production) and a local MiniLM (embedded default, offline)."""

from ingest.embedders.local_embedder import LocalEmbedder
from ingest.embedders.openai_embedder import OpenAIEmbedder

__all__ = ["LocalEmbedder", "OpenAIEmbedder"]
