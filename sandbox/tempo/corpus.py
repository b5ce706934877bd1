"""The deterministic Tempo corpus: worklogs on the Jira corpus's issues, referenced by numeric issue id only.

Each worklog is made from a ``random.Random`` seeded by its own index. ``updatedAt`` differs from the work date
(``startDate``): some worklogs were edited weeks or months after the work, which is what trips a sync that filters
``from``/``to`` (work dates) but means "changed since".
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from sandbox.jira import corpus as jira
from sandbox.text import TextGen

__all__ = ["FIRST_WORKLOG_ID", "Worklog", "worklog_count", "worklogs"]

FIRST_WORKLOG_ID = 100
_ACCOUNTS = ("ACME-01", "ACME-02", "INTERNAL", "GLOBEX-7")


@dataclass(frozen=True)
class Worklog:
    id: int
    issue_id: int
    project_id: str
    author: str  # Atlassian accountId
    start: datetime  # work date and time (UTC)
    seconds: int
    billable: int
    description: str
    created: datetime
    updated: datetime
    account: str


def worklog_count(scale: float) -> int:
    return max(20, round(12_000 * scale))


@lru_cache(maxsize=16)
def worklogs(seed: int, scale: float, now: datetime) -> list[Worklog]:
    """All generated worklogs, in id order."""
    stubs = jira.issue_stubs(seed, scale, now)
    folks = jira.people(seed)
    return [_worklog(seed, i, stubs, folks, now) for i in range(worklog_count(scale))]


def _worklog(seed: int, i: int, stubs: list[jira.IssueStub], folks: list[tuple[str, str]], now: datetime) -> Worklog:
    rng = random.Random(f"{seed}:tempo:worklog:{i}")
    stub = stubs[rng.randrange(len(stubs))]
    day = now.date() - timedelta(days=1 + rng.randrange(729))
    start = datetime.combine(day, time(rng.randint(7, 17), rng.choice((0, 15, 30, 45))), tzinfo=now.tzinfo)
    seconds = 900 * rng.randint(1, 32)
    created = start + timedelta(seconds=seconds, minutes=rng.randint(1, 4320))
    if created > now:
        created = start + (now - start) * rng.random()
    updated = created
    if rng.random() < 0.2:  # edited later: updatedAt far from the work date, never after now
        later = created + timedelta(days=rng.randint(1, 200), minutes=rng.randint(0, 1439))
        updated = later if later <= now else created + (now - created) * rng.random()
    created, updated = created.replace(microsecond=0), updated.replace(microsecond=0)
    return Worklog(
        id=FIRST_WORKLOG_ID + i,
        issue_id=stub.id,
        project_id=stub.project.id,
        author=folks[rng.randrange(len(folks))][0],
        start=start,
        seconds=seconds,
        billable=seconds if rng.random() < 0.7 else 0,
        description=TextGen(rng.getrandbits(32)).sentence(),
        created=created,
        updated=updated,
        account=rng.choice(_ACCOUNTS),
    )


def work_date(w: Worklog) -> date:
    return w.start.date()
