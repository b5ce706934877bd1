"""A deterministic generator of plausible engineering prose, shared by every source's corpus."""

from __future__ import annotations

import random

__all__ = ["TextGen"]

_SUBJECTS = (
    "the ingest worker",
    "the billing service",
    "our search index",
    "the deploy pipeline",
    "the mobile app",
    "the auth gateway",
    "the nightly export",
    "the payments queue",
    "the admin dashboard",
    "the data warehouse",
    "the notification service",
    "the onboarding flow",
    "the API rate limiter",
    "the cache layer",
    "the SSO login",
)
_VERBS = (
    "times out when",
    "drops events after",
    "needs a retry policy for",
    "should be migrated before",
    "was rolled back because of",
    "double-counts rows during",
    "blocks the release until",
    "logs secrets during",
    "slows down under",
    "fails silently on",
    "was patched to handle",
    "must be monitored during",
)
_OBJECTS = (
    "the Postgres failover",
    "a cold start",
    "the quarterly close",
    "large CSV uploads",
    "the holiday traffic peak",
    "a schema change",
    "expired OAuth tokens",
    "the Kafka rebalance",
    "pagination past page 100",
    "a partial outage in eu-west-1",
    "Unicode customer names",
    "duplicate webhook deliveries",
)
_TAILS = (
    "We agreed to add an alert.",
    "Owner to follow up next sprint.",
    "See the runbook for the workaround.",
    "Customer impact was limited.",
    "This is the third time this quarter.",
    "A fix is in review.",
    "Metrics are on the ops dashboard.",
    "Needs a decision from the platform team.",
)
WORDS = tuple(
    sorted({w.strip(".,").lower() for part in (_SUBJECTS, _VERBS, _OBJECTS, _TAILS) for p in part for w in p.split()})
)


class TextGen:
    """Seeded prose: ``TextGen(seed).sentence()`` always gives the same sequence for the same seed."""

    def __init__(self, seed: int | str) -> None:
        self.rng = random.Random(seed)

    def sentence(self) -> str:
        r = self.rng
        text = f"{r.choice(_SUBJECTS)} {r.choice(_VERBS)} {r.choice(_OBJECTS)}. {r.choice(_TAILS)}"
        return text[0].upper() + text[1:]

    def paragraph(self, sentences: int | None = None) -> str:
        n = sentences if sentences is not None else self.rng.randint(2, 5)
        return " ".join(self.sentence() for _ in range(n))

    def title(self) -> str:
        r = self.rng
        return f"{r.choice(_SUBJECTS).capitalize()} {r.choice(_VERBS).split()[0]} {r.choice(_OBJECTS)}"

    def words(self, n: int) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(n))
