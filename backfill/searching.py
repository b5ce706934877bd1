"""``backfill search``: embed the query with the configured embedder and ask the configured store.

``--as PRINCIPAL`` searches as a reader: the principal's grants come from ``BACKFILL_GRANTS_FILE`` (JSON, principal →
list of grants), the store filters on them (``core/acl.py``) so ``top_k`` is filled with visible chunks, and every
hit is checked again here: a chunk without an acl, or with an entry the principal does not hold, is never returned.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from core.acl import visible_to
from core.settings import Settings, SettingsError, load_settings
from ingest.factory import build_embedder, build_store

__all__ = ["grants_of", "parse_where", "search_index"]


def parse_where(pairs: Collection[str]) -> dict[str, str | bool]:
    """``["channel_name=ops", "channel_private=false"]`` → ``{"channel_name": "ops", "channel_private": False}``.

    ``true``/``false`` (any case) become booleans, as the stores hold flags; ValueError naming a pair without ``=``.
    """
    found: dict[str, str | bool] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--where {pair!r} is not FIELD=VALUE (e.g. channel_name=ops)")
        text = value.strip()
        found[key.strip()] = {"true": True, "false": False}.get(text.lower(), text)
    return found


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
    where: Mapping[str, str | bool] | None = None,
) -> list[dict[str, Any]]:
    """The ``top_k`` chunks nearest ``query``, best first, as plain dicts (score, id, source, title, url, text,
    acl); only those visible to ``principal`` (looked up in the grants file) or to ``grants`` when either is given, and
    with ``where``, only chunks whose metadata fields hold those values (e.g. ``{"parent_id": "…"}``)."""
    settings = load_settings()
    if principal is not None:
        grants = grants_of(principal, settings)
    embedder = build_embedder(settings)
    store = build_store(settings, embedder.dimensions)
    [vector] = embedder.embed([query])
    hits = []
    for match in store.query(vector, top_k=top_k, source=source, grants=grants, where=where):
        meta = match.metadata
        if grants is not None and not visible_to(meta.get("acl"), grants):
            continue  # the store's filter is not trusted alone: fail closed
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
