"""What the Slack sandbox holds, read over its Web API (an oracle independent of the connector), and what the
store holds for Slack."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx

from core.settings import load_settings
from ingest.factory import build_store
from sandbox.server import RunningSandbox
from tests.flows.flow_helpers import DIMENSIONS, pinecone_ids

_NOT_CONTENT = {"channel_join", "channel_leave", "bot_message"}


def _client(sb: RunningSandbox) -> httpx.Client:
    token = sb.env["SLACK_BOT_TOKEN"]
    return httpx.Client(base_url=sb.env["SLACK_API_URL"] + "/", headers={"Authorization": f"Bearer {token}"})


def _all(client: httpx.Client, method: str, field: str, **params: Any) -> Iterator[dict[str, Any]]:
    cursor = ""
    while True:
        body = client.get(method, params={**params, **({"cursor": cursor} if cursor else {})}).json()
        assert body["ok"], body
        yield from body[field]
        cursor = body.get("response_metadata", {}).get("next_cursor", "")
        if not cursor:
            return


def channels(sb: RunningSandbox) -> list[dict[str, Any]]:
    with _client(sb) as client:
        return list(_all(client, "conversations.list", "channels", types="public_channel,private_channel"))


def expected_documents(sb: RunningSandbox, channel_ids: set[str]) -> dict[str, list[str]]:
    """Document id → the texts of the messages it must hold (housekeeping and bot posts left out)."""
    docs: dict[str, list[str]] = defaultdict(list)
    with _client(sb) as client:
        for channel in sorted(channel_ids):
            for msg in _all(client, "conversations.history", "messages", channel=channel, limit=999):
                if msg.get("reply_count"):
                    thread = list(_all(client, "conversations.replies", "messages", channel=channel, ts=msg["ts"]))
                    texts = [m["text"] for m in thread if m.get("subtype") not in _NOT_CONTENT]
                    docs[f"slack:{channel}:{msg['ts']}"].extend(texts)
                elif msg.get("subtype") not in _NOT_CONTENT:
                    day = datetime.fromtimestamp(float(msg["ts"]), UTC).date().isoformat()
                    docs[f"slack:{channel}:{day}"].append(msg["text"])
    return dict(docs)


def stored_texts(sb: RunningSandbox) -> dict[str, str]:
    """Document id → the text of all its stored chunks, and the chunk-0 metadata, for every Slack document."""
    store = build_store(load_settings(), DIMENSIONS)
    ids = pinecone_ids(sb, "slack:")
    found: dict[str, str] = defaultdict(str)
    for start in range(0, len(ids), 100):
        for vector_id, meta in store.fetch_metadata(ids[start : start + 100]).items():
            found[vector_id.rsplit("#", 1)[0]] += "\n" + str(meta.get("text", ""))
    return dict(found)


def chunk_zero(sb: RunningSandbox, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
    store = build_store(load_settings(), DIMENSIONS)
    return {k.rsplit("#", 1)[0]: dict(v) for k, v in store.fetch_metadata([f"{d}#0" for d in doc_ids]).items()}


def holders(texts: dict[str, str], needle: str) -> list[str]:
    """The documents whose stored text contains ``needle``."""
    return sorted(doc_id for doc_id, text in texts.items() if needle in text)
