"""``backfill search``: embed the query with the configured embedder and ask the configured store."""

from __future__ import annotations

from typing import Any

from core.settings import load_settings
from ingest.factory import build_embedder, build_store

__all__ = ["search_index"]


def search_index(query: str, *, source: str | None = None, top_k: int = 5) -> list[dict[str, Any]]:
    """The ``top_k`` chunks nearest ``query``, best first, as plain dicts (score, id, source, title, url, text)."""
    settings = load_settings()
    embedder = build_embedder(settings)
    store = build_store(settings, embedder.dimensions)
    [vector] = embedder.embed([query])
    hits = []
    for match in store.query(vector, top_k=top_k, source=source):
        meta = match.metadata
        hits.append(
            {
                "score": round(float(match.score), 4),
                "id": match.id,
                "doc_id": meta.get("doc_id", ""),
                "source": meta.get("source", ""),
                "title": meta.get("title", ""),
                "url": meta.get("url", ""),
                "text": meta.get("text", ""),
            }
        )
    return hits
