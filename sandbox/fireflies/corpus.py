"""The deterministic Fireflies corpus: meeting transcripts with sentences and summaries.

A transcript's header (id, date, people, processing or not) is cheap; its sentences and summary are made on
demand from a ``random.Random`` seeded by the transcript's index. About one in forty is still processing:
``sentences`` is null and the summary is empty, as Fireflies returns it before processing finishes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sandbox.jira import corpus as jira
from sandbox.text import TextGen

__all__ = ["Meeting", "meeting_count", "meetings", "new_meeting", "sentences", "summary", "transcript_id"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_MEETINGS = (
    "Weekly sync",
    "Sprint planning",
    "Incident review",
    "Customer call",
    "Design review",
    "1:1",
    "Roadmap check-in",
    "Retro",
    "Hiring debrief",
    "Architecture forum",
)
_GUESTS = ("bob@partner.example", "dana@globex.example", "lee@initech.example")
DOMAIN = "acme.example"


@dataclass(frozen=True)
class Meeting:
    index: int
    id: str
    title: str
    date: datetime
    minutes: float
    organizer: int  # index into jira.people()
    attendees: tuple[int, ...]
    guests: tuple[str, ...]
    processing: bool


def meeting_count(scale: float) -> int:
    return max(10, round(1200 * scale))


def email(seed: int, person: int) -> str:
    name = jira.people(seed)[person][1]
    return name.lower().replace(" ", ".") + "@" + DOMAIN


def transcript_id(rng: random.Random) -> str:
    """A ULID-looking id (26 Crockford base-32 characters), as Fireflies uses."""
    return "01" + "".join(rng.choice(_CROCKFORD) for _ in range(24))


@lru_cache(maxsize=16)
def meetings(seed: int, scale: float, now: datetime) -> list[Meeting]:
    """Every generated meeting, newest first."""
    made = [_meeting(seed, i, now) for i in range(meeting_count(scale))]
    return sorted(made, key=lambda m: (-m.date.timestamp(), m.id))


def _meeting(
    seed: int, i: int, now: datetime, *, date: datetime | None = None, processing: bool | None = None
) -> Meeting:
    rng = random.Random(f"{seed}:fireflies:meeting:{i}")
    people = len(jira.people(seed))
    when = date or now - timedelta(milliseconds=rng.randrange(730 * 86_400_000))
    attendees = tuple(sorted(rng.sample(range(people), rng.randint(2, 6))))
    return Meeting(
        index=i,
        id=transcript_id(rng),
        title=f"{rng.choice(_MEETINGS)}: {TextGen(rng.getrandbits(32)).title()}",
        date=when.replace(microsecond=when.microsecond // 1000 * 1000),
        minutes=round(rng.uniform(5, 90), 2),
        organizer=attendees[0],
        attendees=attendees,
        guests=tuple(rng.sample(_GUESTS, rng.randint(0, 1))),
        processing=(i % 40 == 3) if processing is None else processing,
    )


def new_meeting(seed: int, i: int, now: datetime, processing: bool) -> Meeting:
    """A meeting that ended at ``now`` (control API)."""
    return _meeting(seed, i, now, date=now, processing=processing)


def sentences(seed: int, m: Meeting) -> list[dict[str, Any]]:
    rng = random.Random(f"{seed}:fireflies:sentences:{m.index}")
    tg = TextGen(rng.getrandbits(32))
    folks = jira.people(seed)
    out: list[dict[str, Any]] = []
    clock = round(rng.uniform(0.2, 3.0), 2)
    for n in range(rng.randint(20, 120)):
        speaker = rng.randrange(len(m.attendees))
        text = tg.sentence()
        end = round(clock + rng.uniform(1.5, 9.0), 2)
        out.append(
            {
                "index": n,
                "speaker_name": folks[m.attendees[speaker]][1],
                "speaker_id": speaker,
                "text": text,
                "raw_text": text.lower().rstrip("."),
                "start_time": clock,
                "end_time": end,
                "ai_filters": {
                    "text_cleanup": text,
                    "task": None,
                    "pricing": None,
                    "metric": None,
                    "question": None,
                    "date_and_time": None,
                    "sentiment": rng.choice(("neutral", "positive")),
                },
            }
        )
        clock = round(end + rng.uniform(0.1, 1.5), 2)
    return out


def summary(seed: int, m: Meeting) -> dict[str, Any]:
    if m.processing:  # not ready yet: empty strings and empty lists, never the final summary
        empty = {
            k: ""
            for k in (
                "action_items",
                "outline",
                "shorthand_bullet",
                "overview",
                "bullet_gist",
                "notes",
                "gist",
                "short_summary",
                "short_overview",
                "meeting_type",
            )
        }
        return empty | {"keywords": [], "topics_discussed": [], "transcript_chapters": [], "extended_sections": []}
    rng = random.Random(f"{seed}:fireflies:summary:{m.index}")
    tg = TextGen(rng.getrandbits(32))
    owner = jira.people(seed)[m.organizer][1]
    keywords = sorted(set(tg.words(6).split()))
    return {
        "keywords": keywords,
        "action_items": f"**{owner}**\n{tg.sentence()} ({rng.randint(0, 59):02d}:{rng.randint(0, 59):02d})",
        "outline": "\n".join(f"- {tg.sentence()}" for _ in range(3)),
        "shorthand_bullet": f"📌 {tg.title()} (00:00 - {int(m.minutes):02d}:00)",
        "overview": tg.paragraph(3),
        "bullet_gist": "\n".join(f"• {tg.sentence()}" for _ in range(2)),
        "notes": tg.paragraph(2),
        "gist": tg.sentence(),
        "short_summary": tg.paragraph(2),
        "short_overview": tg.sentence(),
        "meeting_type": m.title.split(":")[0],
        "topics_discussed": [tg.title() for _ in range(2)],
        "transcript_chapters": [tg.title() for _ in range(2)],
        "extended_sections": [],
    }


def at_utc(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
