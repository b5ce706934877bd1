"""The two Embedder implementations: OpenAI (production) and a local MiniLM (embedded default, offline).

Imported lazily, so choosing one never loads the other's heavy dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.embedders.local_embedder import LocalEmbedder
    from ingest.embedders.openai_embedder import OpenAIEmbedder

__all__ = ["LocalEmbedder", "OpenAIEmbedder"]


def __getattr__(name: str) -> Any:
    if name == "LocalEmbedder":
        from ingest.embedders.local_embedder import LocalEmbedder

        return LocalEmbedder
    if name == "OpenAIEmbedder":
        from ingest.embedders.openai_embedder import OpenAIEmbedder

        return OpenAIEmbedder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
