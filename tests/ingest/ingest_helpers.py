"""Helpers shared by the ingest tests (settings pointing at the sandbox, sandbox counters)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.settings import Settings
from sandbox.server import RunningSandbox

DIM = 64


def make_settings(sb: RunningSandbox, home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "openai_api_key": sb.env["OPENAI_API_KEY"],
        "openai_base_url": sb.env["OPENAI_BASE_URL"],
        "pinecone_api_key": sb.env["PINECONE_API_KEY"],
        "pinecone_index_host": sb.env["PINECONE_INDEX_HOST"],
        "pinecone_namespace": sb.env.get("PINECONE_NAMESPACE", "backfill"),
        "embedding_model": "text-embedding-3-small",
        "embedding_dimensions": DIM,
        "backfill_store": "pinecone",
        "backfill_embedder": "openai",
        "backfill_home": home,
    }
    values.update(overrides)
    return Settings(**values)


def rejections(sb: RunningSandbox) -> dict[str, int]:
    return sb.control("counters")["rejections"]
