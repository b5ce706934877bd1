"""Helpers shared by the flow tests: sandbox-backed environments, store inspection, request counting."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sandbox.server import RunningSandbox, start_sandbox

DIMENSIONS = 64  # small vectors keep the simulators fast; the pipeline is dimension-agnostic


def simulator_env(sb: RunningSandbox) -> dict[str, str]:
    """Pinecone + OpenAI simulators (hashed embeddings): fast enough for thousands of documents."""
    sb.control("pinecone/configure", {"dimension": DIMENSIONS})
    return {
        "BACKFILL_STORE": "pinecone",
        "BACKFILL_EMBEDDER": "openai",
        "EMBEDDING_DIMENSIONS": str(DIMENSIONS),
        # The sandbox enforces quotas only in its realistic and harsher profiles: don't pace against it otherwise.
        "JIRA_RATE_PER_S": "500",
        "TEMPO_RATE_PER_S": "500",
        "NOTION_RATE_PER_S": "500",
        "SLACK_RATE_PER_S": "500",
    }


@contextmanager
def exported(env: dict[str, str]) -> Iterator[None]:
    """``env`` in os.environ for the block (in-process flows read settings from the environment)."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def own_sandbox(**kwargs: Any) -> Iterator[RunningSandbox]:
    with start_sandbox(**kwargs) as sb:
        yield sb


def counters(sb: RunningSandbox) -> Counter[str]:
    return Counter(sb.control("counters")["counters"])


def search_requests(c: Counter[str]) -> int:
    return sum(n for key, n in c.items() if key.startswith("jira ") and key.endswith(" /rest/api/3/search/jql"))


def jira_requests(c: Counter[str]) -> int:
    return sum(n for key, n in c.items() if key.startswith("jira ") and " /rest/api/3/" in key and "JQL" not in key)


def jql_windows(c: Counter[str]) -> set[str]:
    return {key.removeprefix("jira JQL ") for key in c if key.startswith("jira JQL ")}


def minimum_jira_requests(stats: dict[str, Any]) -> int:
    """Fewest requests the page limits allow: 100 issues a search page, 100 projects a page, comment pages."""
    return math.ceil(stats["issues"] / 100) + math.ceil(stats["projects"] / 100) + stats["comment_pages"]


def pinecone_ids(sb: RunningSandbox, prefix: str) -> list[str]:
    """Every vector id under ``prefix`` in the simulator, read through the official SDK."""
    from pinecone import Pinecone

    index = Pinecone(api_key=sb.env["PINECONE_API_KEY"]).Index(host=sb.env["PINECONE_INDEX_HOST"])
    ids: list[str] = []
    for page in index.list(prefix=prefix, namespace=sb.env["PINECONE_NAMESPACE"]):
        ids.extend(item.id for item in page.vectors)
    return ids
