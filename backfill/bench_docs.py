"""Synthetic documents for ``backfill bench``: deterministic, realistic sizes, generated lazily."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from ingest.document import Document

__all__ = ["WORDS_PER_DOC", "synthetic_documents"]

WORDS_PER_DOC = (100, 600)  # Jira issues, Slack threads, PR descriptions: mostly 1–3 chunks of ≤ 512 tokens
_PARAGRAPH_POOL = 4_000

_VOCABULARY_TEXT = (
    "the service request timeout retry queue worker deploy release rollback migration schema index cache "
    "latency error budget alert dashboard customer incident outage region cluster node pod replica shard "
    "partition consumer producer topic offset lag throughput backlog ticket sprint review owner team platform "
    "billing payments invoice export import upload download token session login gateway proxy certificate "
    "we agreed to add a check before next week because it failed twice during the nightly run and nobody "
    "noticed until support escalated it so please follow up with data from staging and production when "
    "possible including the logs metrics traces and any screenshots that explain what happened in detail"
)
_VOCABULARY = tuple(_VOCABULARY_TEXT.split())
_PROJECTS = ("ENG", "OPS", "DATA", "WEB", "MOB", "SEC")


def synthetic_documents(count: int, seed: int = 42) -> Iterator[Document]:
    """``count`` deterministic documents of realistic size, generated one at a time (never a list).

    Bodies are drawn from a fixed pool of paragraphs, built here, before the first document is asked for (so
    generating costs little next to the pipeline), and start with a line naming the document, so no two texts
    are equal.
    """
    rng = random.Random(seed)
    pool = [_paragraph(rng) for _ in range(_PARAGRAPH_POOL)]
    return _documents(count, rng, pool)


def _documents(count: int, rng: random.Random, pool: list[str]) -> Iterator[Document]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for index in range(count):
        project = rng.choice(_PROJECTS)
        key = f"{project}-{1000 + index}"
        created = start + timedelta(minutes=7 * index)
        words = rng.randint(*WORDS_PER_DOC)
        paragraphs = [f"{key} reported by {rng.choice(_VOCABULARY)} team, priority P{rng.randint(1, 4)}."]
        while words > 0:
            paragraph = rng.choice(pool)
            paragraphs.append(paragraph)
            words -= paragraph.count(" ") + 1
        yield Document(
            id=f"bench:{index:08d}",
            source="bench",
            title=f"{key}: {' '.join(rng.choices(_VOCABULARY, k=rng.randint(4, 9)))}",
            text="\n\n".join(paragraphs),
            url=f"https://bench.example.com/{key}",
            created_at=created,
            updated_at=created + timedelta(hours=rng.randint(0, 72)),
            metadata={"project": project, "status": rng.choice(("open", "done")), "labels": [project.lower()]},
        )


def _paragraph(rng: random.Random) -> str:
    """40–120 words in sentences, with version numbers and counts, tokenising like real tickets (~1.3/word)."""
    size = rng.randint(40, 120)
    words = rng.choices(_VOCABULARY, k=size)
    for position in range(0, size, rng.randint(8, 16)):
        words[position] = rng.choice((f"v{rng.randint(1, 9)}.{rng.randint(0, 30)}", str(rng.randint(2, 9999))))
    return " ".join(" ".join(words[i : i + 12]).capitalize() + "." for i in range(0, size, 12))
