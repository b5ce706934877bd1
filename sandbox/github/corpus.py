"""A deterministic GitHub organisation: repos with issues, pull requests, issue comments and commits.

Repos are listed eagerly; each repo's issues/PRs, comments and commits are generated on first use from
(seed, repo). Records are light dataclasses; ``sandbox/github/objects.py`` turns them into the REST shapes.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sandbox.text import TextGen

__all__ = ["ORG", "Comment", "Commit", "GitHubCorpus", "Issue", "Repo", "RepoData"]

ORG = "acme"
_SPAN = timedelta(days=730)
_REPO_NAMES = (
    "api",
    "web",
    "infra",
    "mobile",
    "data-pipeline",
    "docs",
    "billing",
    "search",
    "auth",
    "sdk",
    "ops-tools",
    "design-system",
)
_LOGINS = (
    "octo-ana",
    "ben-dev",
    "chloe-k",
    "devraj",
    "eli-ops",
    "fay-ml",
    "gus-sre",
    "hana-fe",
    "ivo-be",
    "jun-qa",
    "kai-sec",
    "lena-pm",
    "milo-data",
    "nora-ux",
    "omar-infra",
    "pia-mobile",
)
_LABELS = ("bug", "enhancement", "documentation", "security", "performance", "tech-debt")


def sha1(*parts: object) -> str:
    return hashlib.sha1(":".join(str(p) for p in parts).encode()).hexdigest()


@dataclass
class Repo:
    index: int
    id: int
    name: str
    private: bool
    archived: bool
    created: datetime
    pushed: datetime
    description: str


@dataclass
class Issue:
    id: int
    number: int
    title: str
    body: str
    user: str
    labels: list[str]
    created: datetime
    updated: datetime
    closed: datetime | None
    is_pr: bool
    pr_id: int
    merged: datetime | None = None
    draft: bool = False
    comments: int = 0


@dataclass
class Comment:
    id: int
    issue_number: int
    user: str
    body: str
    created: datetime
    updated: datetime


@dataclass
class Commit:
    sha: str
    message: str
    author: str
    authored: datetime
    committed: datetime
    parent: str | None


@dataclass
class RepoData:
    issues: list[Issue] = field(default_factory=list)  # by number ascending
    comments: list[Comment] = field(default_factory=list)  # by id ascending
    commits: list[Commit] = field(default_factory=list)  # newest first


class GitHubCorpus:
    def __init__(self, seed: int, scale: float, now: datetime, jira_keys: list[str] | None = None) -> None:
        self.seed = seed
        self.scale = scale
        self.now = now
        self.start = now - _SPAN
        self.jira_keys = jira_keys or []
        self.logins = list(_LOGINS)
        # ~6 repos at scale 1, at least 3 at any scale, more (up to 12) above scale 1.
        count = max(3, min(len(_REPO_NAMES), round(6 * scale**0.5)))
        self.repos = [self._repo(i) for i in range(count)]
        self.items_per_repo = max(40, int(4000 * scale) // len(self.repos))
        self.commits_per_repo = max(25, int(2500 * scale) // len(self.repos))
        self._data: dict[str, RepoData] = {}
        self._next_comment_id = 0

    def _repo(self, i: int) -> Repo:
        rng = random.Random(f"{self.seed}:github:repo:{i}")
        created = self.start - timedelta(days=rng.randint(30, 900))
        return Repo(
            index=i,
            id=100_000 + i,
            name=_REPO_NAMES[i],
            private=i % 3 == 1,
            archived=False,
            created=created,
            pushed=self.now - timedelta(hours=rng.randint(1, 72)),
            description=TextGen(rng.random()).sentence(),
        )

    def repo(self, name: str) -> Repo | None:
        return next((r for r in self.repos if r.name == name), None)

    def data(self, repo: Repo) -> RepoData:
        if repo.name not in self._data:
            self._data[repo.name] = self._make(repo)
        return self._data[repo.name]

    def _when(self, rng: random.Random) -> datetime:
        return self.start + timedelta(seconds=rng.randint(0, int(_SPAN.total_seconds()) - 3600))

    def _make(self, repo: Repo) -> RepoData:
        rng = random.Random(f"{self.seed}:github:items:{repo.name}")
        created_times = sorted(self._when(rng) for _ in range(self.items_per_repo))
        data = RepoData()
        for number, created in enumerate(created_times, start=1):
            data.issues.append(self._issue(repo, number, created))
        for issue in data.issues:
            self._comments(repo, issue, data)
        data.comments.sort(key=lambda c: c.id)
        data.commits = self._commits(repo)
        return data

    def _issue(self, repo: Repo, number: int, created: datetime) -> Issue:
        rng = random.Random(f"{self.seed}:github:issue:{repo.name}:{number}")
        gen = TextGen(rng.random())
        is_pr = number in (2, 3) or (number > 3 and rng.random() < 0.35)
        age = int((self.now - created).total_seconds())
        updated = created + timedelta(seconds=rng.randint(0, max(60, age - 60)))
        closed = updated if (number == 2 or (number != 1 and rng.random() < 0.6)) else None
        body = gen.paragraph()
        if self.jira_keys and rng.random() < 0.4:
            body += f"\n\nJira: {rng.choice(self.jira_keys)}"
        title = gen.title()
        if is_pr and self.jira_keys and rng.random() < 0.5:
            title = f"{rng.choice(self.jira_keys)}: {title}"
        return Issue(
            id=repo.id * 100_000 + number,
            number=number,
            title=title,
            body=body,
            user=rng.choice(self.logins),
            labels=rng.sample(_LABELS, rng.randint(0, 2)),
            created=created,
            updated=updated,
            closed=closed,
            is_pr=is_pr,
            pr_id=repo.id * 100_000 + 50_000 + number,
            merged=closed if is_pr and closed and rng.random() < 0.8 else None,
            draft=is_pr and rng.random() < 0.05,
        )

    def _comments(self, repo: Repo, issue: Issue, data: RepoData) -> None:
        rng = random.Random(f"{self.seed}:github:comments:{repo.name}:{issue.number}")
        n = rng.choice((0, 0, 1, 1, 2, 3, 5))
        span = max(60, int((issue.updated - issue.created).total_seconds()))
        for k in range(n):
            created = issue.created + timedelta(seconds=rng.randint(30, span))
            edited = created + timedelta(seconds=rng.randint(0, 600)) if rng.random() < 0.1 else created
            data.comments.append(
                Comment(
                    id=repo.id * 1_000_000 + issue.number * 20 + k,
                    issue_number=issue.number,
                    user=rng.choice(self.logins),
                    body=TextGen(rng.random()).paragraph(rng.randint(1, 2)),
                    created=created,
                    updated=min(edited, issue.updated),
                )
            )
        issue.comments = n

    def _commits(self, repo: Repo) -> list[Commit]:
        rng = random.Random(f"{self.seed}:github:commits:{repo.name}")
        times = sorted(self._when(rng) for _ in range(self.commits_per_repo))
        commits: list[Commit] = []
        parent: str | None = None
        for k, committed in enumerate(times):
            gen = TextGen(rng.random())
            # Author dates survive rebases: some commits were authored well before they were committed.
            authored = committed - timedelta(days=rng.randint(1, 20)) if rng.random() < 0.1 else committed
            message = gen.sentence()
            if self.jira_keys and rng.random() < 0.3:
                message = f"{rng.choice(self.jira_keys)} {message}"
            sha = sha1(self.seed, repo.name, "commit", k)
            commits.append(
                Commit(
                    sha=sha,
                    message=message,
                    author=rng.choice(self.logins),
                    authored=authored,
                    committed=committed,
                    parent=parent,
                )
            )
            parent = sha
        commits.reverse()
        return commits

    def new_comment_id(self, repo: Repo) -> int:
        self._next_comment_id += 1
        return repo.id * 1_000_000 + 900_000 + self._next_comment_id
