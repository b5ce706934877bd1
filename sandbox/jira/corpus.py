"""The deterministic Jira corpus: projects, issues, comments and people, from (seed, scale, now).

Scale 1 is the predecessor's workload: 72 projects and 7,556 issues updated over the 730 days before ``now``.
Issue stubs (id, key, dates, comment count) are cheap and made for all issues on first use; the heavy parts
(summary, ADF description, comments) are made per issue on demand from a ``random.Random`` seeded by the issue's
index alone, so generating issue N never depends on having generated the others.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sandbox.adf_gen import Person, adf_doc, adf_paragraphs, kitchen_sink
from sandbox.text import TextGen

__all__ = [
    "BIG_COMMENT_EVERY",
    "FIRST_ISSUE_ID",
    "IssueStub",
    "Project",
    "issue_count",
    "issue_fields",
    "issue_keys",
    "issue_stubs",
    "make_comment",
    "people",
    "project_count",
    "projects",
]

FIRST_ISSUE_ID = 10000
BIG_COMMENT_EVERY = 50  # issue index i with i % 50 == 7 has more than 100 comments
SPAN_DAYS = 730

_TEAMS = (
    "Engineering",
    "Operations",
    "Platform",
    "Billing",
    "Search",
    "Mobile",
    "Payments",
    "Identity",
    "Data",
    "Growth",
    "Security",
    "Infrastructure",
    "Support",
    "Design",
    "Analytics",
    "Marketing Web",
    "Checkout",
    "Alerting",
    "Onboarding",
    "Reporting",
    "Integrations",
    "Compliance",
    "Quality",
    "Release",
)
_FIRST = (
    "Mia",
    "Sam",
    "Ava",
    "Noah",
    "Lena",
    "Omar",
    "Priya",
    "Jonas",
    "Chen",
    "Sofia",
    "Kofi",
    "Ines",
    "Ravi",
    "Hana",
    "Liam",
    "Zoe",
    "Mateo",
    "Yuki",
    "Amara",
    "Erik",
)
_LAST = (
    "Krystof",
    "Lee",
    "Novak",
    "Okafor",
    "Silva",
    "Tanaka",
    "Berg",
    "Haddad",
    "Moreau",
    "Patel",
    "Kowalski",
    "Nguyen",
    "Fischer",
    "Costa",
    "Larsen",
)
_LABELS = (
    "safari",
    "backend",
    "frontend",
    "regression",
    "customer",
    "tech-debt",
    "infra",
    "p1-incident",
    "ux",
)
STATUSES = (
    ("1", "To Do", 2, "new", "blue-gray"),
    ("3", "In Progress", 4, "indeterminate", "yellow"),
    ("10001", "In Review", 4, "indeterminate", "yellow"),
    ("10002", "Done", 3, "done", "green"),
)
_TYPES = (
    ("10001", "Bug", False),
    ("10002", "Task", False),
    ("10003", "Story", False),
    ("10000", "Epic", False),
    ("10004", "Sub-task", True),
)
_PRIORITIES = (("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest"))


@dataclass(frozen=True)
class Project:
    id: str
    key: str
    name: str
    archived: bool
    archived_at: datetime | None
    lead: int  # index into people()


@dataclass(frozen=True)
class IssueStub:
    index: int  # global position in the corpus; added issues continue the sequence
    id: int
    key: str
    project: Project
    number: int
    created: datetime
    updated: datetime
    comment_count: int
    # The generated ``updated``: generated comments are spread up to it, so that touching an issue (a new
    # ``updated``) does not move its comments, as it does not in Jira.
    generated_updated: datetime | None = None


def project_count(scale: float) -> int:
    return max(2, round(72 * scale))


def issue_count(scale: float) -> int:
    return max(10, round(7556 * scale))


@lru_cache(maxsize=16)
def people(seed: int) -> list[Person]:
    """The site's users as (accountId, displayName), shared by Jira, Tempo and Fireflies."""
    rng = random.Random(f"{seed}:people")
    out: list[Person] = []
    for n in range(30):
        name = f"{_FIRST[n % len(_FIRST)]} {_LAST[(n * 7 + rng.randrange(3)) % len(_LAST)]}"
        out.append((f"712020:{rng.getrandbits(128):032x}", name))
    return out


def _project_key(team: str, generation: int, taken: set[str]) -> str:
    """ENG, ENG2, ENG3 …: letters from the team name, a number for later generations of the same team."""
    letters = "".join(w[0] for w in team.split()) if " " in team else team[:3]
    key = letters.upper() + (str(generation) if generation > 1 else "")
    while key in taken:
        key += "X"
    taken.add(key)
    return key


@lru_cache(maxsize=16)
def projects(seed: int, scale: float, now: datetime) -> list[Project]:
    count = project_count(scale)
    taken: set[str] = set()
    out: list[Project] = []
    for p in range(count):
        rng = random.Random(f"{seed}:jira:project:{p}")
        base = _TEAMS[p % len(_TEAMS)]
        name = base if p < len(_TEAMS) else f"{base} {p // len(_TEAMS) + 1}"
        archived = rng.random() < 0.1
        key = _project_key(base, p // len(_TEAMS) + 1, taken)
        out.append(_make_project(p, name, key, archived, now, rng))
    if not any(pr.archived for pr in out):  # "some projects are archived", even in a tiny corpus
        last = out[-1]
        out[-1] = _make_project(count - 1, last.name, last.key, True, now, random.Random(f"{seed}:jira:arch"))
    return out


def _make_project(p: int, name: str, key: str, archived: bool, now: datetime, rng: random.Random) -> Project:
    when = now - timedelta(days=rng.randint(1, 300), minutes=rng.randint(0, 1439)) if archived else None
    return Project(id=str(10000 + p), key=key, name=name, archived=archived, archived_at=when, lead=rng.randrange(30))


def _project_sizes(seed: int, scale: float) -> list[int]:
    """Issues per project: random weights, largest remainder, so the sizes sum to exactly ``issue_count``."""
    total, count = issue_count(scale), project_count(scale)
    rng = random.Random(f"{seed}:jira:sizes")
    weights = [rng.uniform(0.2, 3.0) for _ in range(count)]
    floor_each = 1 if total >= count else 0
    spare = total - floor_each * count
    shares = [w / sum(weights) * spare for w in weights]
    sizes = [floor_each + int(s) for s in shares]
    order = sorted(range(count), key=lambda i: (-(shares[i] - int(shares[i])), i))
    for i in order[: total - sum(sizes)]:
        sizes[i] += 1
    return sizes


@lru_cache(maxsize=16)
def issue_stubs(seed: int, scale: float, now: datetime) -> list[IssueStub]:
    """Every issue's stub; cheap (one small Random per issue)."""
    out: list[IssueStub] = []
    index = 0
    for project, size in zip(projects(seed, scale, now), _project_sizes(seed, scale), strict=True):
        for number in range(1, size + 1):
            out.append(_stub(seed, index, project, number, now))
            index += 1
    return out


def _stub(seed: int, index: int, project: Project, number: int, now: datetime) -> IssueStub:
    rng = random.Random(f"{seed}:jira:issue:{index}")
    updated = now - timedelta(milliseconds=rng.randrange(SPAN_DAYS * 86_400_000))
    created = updated - timedelta(milliseconds=rng.randrange(120 * 86_400_000))
    comments = 101 + rng.randrange(40) if index % BIG_COMMENT_EVERY == 7 else rng.choice((0, 0, 1, 1, 2, 3, 4, 6))
    return IssueStub(
        index, FIRST_ISSUE_ID + index, f"{project.key}-{number}", project, number, created, updated, comments
    )


def new_stub(seed: int, index: int, project: Project, number: int, now: datetime) -> IssueStub:
    """An issue created at ``now`` by the control API (no comments yet)."""
    return IssueStub(index, FIRST_ISSUE_ID + index, f"{project.key}-{number}", project, number, now, now, 0)


def issue_keys(seed: int, scale: float, now: datetime | None = None) -> list[str]:
    """Every issue key of the corpus, in id order (for other sources that mention real Jira keys)."""
    from sandbox.context import EPOCH

    return [s.key for s in issue_stubs(seed, scale, now or EPOCH)]


def issue_fields(seed: int, stub: IssueStub, version: int) -> dict[str, Any]:
    """The generated field values of one issue (no dates, project or comments: the API layer adds those).

    ``version`` counts edits made through the control API, so an edited issue has different content.
    """
    return dict(_fields(seed, stub.index, version))


@lru_cache(maxsize=4096)
def _fields(seed: int, index: int, version: int) -> dict[str, Any]:
    rng = random.Random(f"{seed}:jira:fields:{index}:{version}")
    folks = people(seed)
    tg = TextGen(rng.getrandbits(32))
    if index % 10 == 0:
        description: Any = kitchen_sink(rng, folks)
    elif rng.random() < 0.06:
        description = None  # Jira sends null for an empty description
    else:
        description = adf_doc(rng, folks)
    summary = tg.title() + (f" (rev {version})" if version else "")
    labels = sorted(rng.sample(_LABELS, rng.randint(0, 3)))
    return {
        "summary": summary,
        "description": description,
        "status": rng.randrange(len(STATUSES)),
        "issuetype": rng.randrange(len(_TYPES)),
        "priority": None if rng.random() < 0.05 else rng.randrange(len(_PRIORITIES)),
        "assignee": None if rng.random() < 0.15 else rng.randrange(len(folks)),
        "reporter": rng.randrange(len(folks)),
        "labels": labels,
    }


def issue_type(n: int) -> dict[str, Any]:
    ident, name, subtask = _TYPES[n]
    return {"id": ident, "name": name, "subtask": subtask, "hierarchyLevel": -1 if subtask else 0}


def priority(n: int | None) -> dict[str, Any] | None:
    return None if n is None else {"id": _PRIORITIES[n][0], "name": _PRIORITIES[n][1]}


def make_comment(seed: int, stub: IssueStub, j: int) -> dict[str, Any]:
    """Comment ``j`` of a generated issue: id, author index, ADF body and creation time (spread over its life)."""
    rng = random.Random(f"{seed}:jira:comment:{stub.index}:{j}")
    until = stub.generated_updated or stub.updated
    span = max(1, int((until - stub.created).total_seconds() * 1000))
    step = span // (stub.comment_count + 1)
    created = stub.created + timedelta(milliseconds=step * (j + 1) + rng.randrange(max(1, step // 2)))
    created = min(created, until)
    return {
        "id": str(1_000_000 + stub.index * 1000 + j),
        "author": rng.randrange(len(people(seed))),
        "body": adf_paragraphs(rng, people(seed)),
        "created": created,
    }
