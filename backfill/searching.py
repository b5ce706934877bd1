"""``backfill search``: embed the query with the configured embedder and ask the configured store.

``--as PRINCIPAL`` searches as a reader: the principal's grants come from ``BACKFILL_GRANTS_FILE`` (JSON, principal →
list of grants), the store filters on them (``core/acl.py``) so ``top_k`` is filled with visible chunks, and every
hit is checked again here: a chunk without an acl, or with an entry the principal does not hold, is never returned.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from core.acl import visible_to
from core.settings import Settings, SettingsError, load_settings
from ingest.factory import build_embedder, build_store

__all__ = ["grants_of", "matches_where", "parse_where", "search_index"]

# With ``where`` filters the store is asked for this many times ``top_k`` candidates (at most WHERE_MAX), filtered
# here on the chunk metadata: the stores' own filters differ (Pinecone's operators, LanceDB's JSON column).
WHERE_WIDEN = 20
WHERE_MAX = 1000


def parse_where(pairs: Collection[str]) -> dict[str, str]:
    """``["channel_name=ops", "channel_private=false"]`` → a dict; ValueError naming a pair without ``=``."""
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--where {pair!r} is not KEY=VALUE (e.g. channel_name=ops)")
        found[key.strip()] = value.strip()
    return found


def matches_where(metadata: dict[str, Any], where: dict[str, str]) -> bool:
    """Every ``key=value`` holds: a scalar equals the value as text (``true``/``false`` for booleans, any case), a
    list contains it."""
    for key, wanted in where.items():
        value = metadata.get(key)
        if isinstance(value, list):
            if wanted not in [str(v) for v in value]:
                return False
        elif value is None or str(value).lower() != wanted.lower():
            return False
    return True


def grants_of(principal: str, settings: Settings) -> list[str]:
    """The grants of ``principal`` in ``BACKFILL_GRANTS_FILE``; a ``SettingsError`` when it is not there."""
    path = settings.backfill_grants_file
    if path is None:
        raise SettingsError("BACKFILL_GRANTS_FILE is required by search --as (principal → list of grants)")
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SettingsError(f"BACKFILL_GRANTS_FILE {path} cannot be read as JSON: {exc}") from None
    grants = table.get(principal) if isinstance(table, dict) else None
    if not isinstance(grants, list) or not all(isinstance(g, str) for g in grants):
        raise SettingsError(f"principal {principal!r} has no list of grants in BACKFILL_GRANTS_FILE {path}")
    return grants


def search_index(
    query: str,
    *,
    source: str | None = None,
    top_k: int = 5,
    principal: str | None = None,
    grants: Collection[str] | None = None,
    where: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The ``top_k`` chunks nearest ``query``, best first, as plain dicts (score, id, source, title, url, text,
    acl); only those visible to ``principal`` (looked up in the grants file) or to ``grants`` when either is given,
    and only those whose metadata matches every ``where`` pair (e.g. ``{"channel_name": "ops"}``)."""
    settings = load_settings()
    if principal is not None:
        grants = grants_of(principal, settings)
    embedder = build_embedder(settings)
    store = build_store(settings, embedder.dimensions)
    [vector] = embedder.embed([query])
    hits: list[dict[str, Any]] = []
    asked = min(WHERE_MAX, max(top_k, top_k * WHERE_WIDEN)) if where else top_k
    for match in store.query(vector, top_k=asked, source=source, grants=grants):
        meta = match.metadata
        if grants is not None and not visible_to(meta.get("acl"), grants):
            continue  # the store's filter is not trusted alone: fail closed
        if where and not matches_where(meta, where):
            continue
        if len(hits) >= top_k:
            break
        hits.append(
            {
                "score": round(float(match.score), 4),
                "id": match.id,
                "doc_id": meta.get("doc_id", ""),
                "source": meta.get("source", ""),
                "title": meta.get("title", ""),
                "url": meta.get("url", ""),
                "text": meta.get("text", ""),
                "acl": meta.get("acl"),
            }
        )
    return hits
