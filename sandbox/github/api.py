"""GitHub REST simulator, mounted at ``/github`` (``GITHUB_API_URL=<base>/github``).

Faithful to GitHub's REST API (spec: ``tests/specs/github/``): token auth, ``Link`` pagination (``per_page`` ≤ 100,
default 30), ``/issues`` returning PRs with a ``pull_request`` key, ``x-ratelimit-*`` on every response, a
primary limit of 5,000/h (403 with ``x-ratelimit-remaining: 0``; the window runs on the sandbox clock, and
``ctx.settings["github"]["primary_limit"]`` lowers it), secondary limits (the fault layer's bucket answers 403
+ ``retry-after`` + the documented message), ETags with 304s that cost no quota, 400 for an unknown API version.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.context import ApiSpec, SandboxContext
from sandbox.github.corpus import ORG, Comment, GitHubCorpus, Issue, Repo
from sandbox.github.objects import comment_json, commit_json, issue_json, pull_json, repo_json, user_json
from sandbox.jira.corpus import issue_keys

__all__ = ["GITHUB_TOKEN", "build"]

GITHUB_TOKEN = "ghp_sandboxBackfillToken000000000000000000"
_VERSIONS = ("2022-11-28", "2026-03-10")
_DOCS = "https://docs.github.com/rest"
_SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out "
    "to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000."
)


class GitHubError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error_body(status: int, message: str, docs: str = _DOCS) -> dict[str, Any]:
    return {"message": message, "documentation_url": docs, "status": str(status)}


class GitHubSim:
    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.lock = threading.RLock()
        self.corpus = self._fresh()
        self.auth_fail = False
        self.used = 0
        self.window_end: datetime | None = None

    def _fresh(self) -> GitHubCorpus:
        return GitHubCorpus(
            self.ctx.seed, self.ctx.scale, self.ctx.clock.now(), issue_keys(self.ctx.seed, self.ctx.scale)
        )

    # ---- rate limit bookkeeping --------------------------------------------------------------------------
    def _limit(self) -> int:
        return int(self.ctx.settings.get("github", {}).get("primary_limit", 5000))

    def _window(self) -> datetime:
        now = self.ctx.clock.now()
        if self.window_end is None or now >= self.window_end:
            self.window_end = now + timedelta(hours=1)
            self.used = 0
        return self.window_end

    def rate_headers(self) -> dict[str, str]:
        with self.lock:
            reset = self._window()
            limit = self._limit()
            return {
                "x-ratelimit-limit": str(limit),
                "x-ratelimit-remaining": str(max(0, limit - self.used)),
                "x-ratelimit-used": str(self.used),
                "x-ratelimit-reset": str(int(reset.timestamp())),
                "x-ratelimit-resource": "core",
            }

    def rate_limited(self, retry_after: float) -> Response:
        headers = {**self.rate_headers(), "retry-after": str(max(1, math.ceil(retry_after)))}
        body = _error_body(
            403, _SECONDARY, f"{_DOCS}/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
        )
        return JSONResponse(body, status_code=403, headers=headers)

    # ---- request pipeline --------------------------------------------------------------------------------
    def endpoint(self, handler: Callable[[Request], Any]) -> Any:
        async def run(request: Request) -> Response:
            version = request.headers.get("x-github-api-version")
            if version is not None and version not in _VERSIONS:
                return JSONResponse(_error_body(400, f"API version '{version}' is not supported."), 400)
            auth = request.headers.get("authorization", "")
            token = auth.split(" ", 1)[1].strip() if auth.lower().startswith(("bearer ", "token ")) else ""
            if not token:
                return JSONResponse(_error_body(401, "Requires authentication"), 401)
            if token != GITHUB_TOKEN or self.auth_fail:
                return JSONResponse(_error_body(401, "Bad credentials"), 401)
            with self.lock:
                self._window()
                if self.used >= self._limit():
                    self.ctx.reject("github", "primary")
                    message = (
                        "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, "
                        "please include the request ID 0000:0000:0000000:0000000:00000000."
                    )
                    body = _error_body(403, message, f"{_DOCS}/overview/rate-limits-for-the-rest-api")
                    return JSONResponse(body, 403, headers=self.rate_headers())
                try:
                    payload, link = handler(request)
                except GitHubError as exc:
                    self.used += 1
                    return JSONResponse(_error_body(exc.status, exc.message), exc.status, headers=self.rate_headers())
                raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
                etag = f'W/"{hashlib.sha256(raw).hexdigest()[:40]}"'
                if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
                    # 304s with an Authorization header do not count against the primary limit.
                    return Response(status_code=304, headers={**self.rate_headers(), "etag": etag})
                self.used += 1
                headers = {
                    **self.rate_headers(),
                    "etag": etag,
                    "x-github-api-version-selected": version or _VERSIONS[0],
                }
                if link:
                    headers["link"] = link
                return Response(raw, 200, headers=headers, media_type="application/json; charset=utf-8")

        return run

    def _repo(self, request: Request) -> Repo:
        owner, name = request.path_params["owner"], request.path_params["repo"]
        repo = self.corpus.repo(name) if owner == ORG else None
        if repo is None:
            raise GitHubError(404, "Not Found")
        return repo

    # ---- handlers ----------------------------------------------------------------------------------------
    def list_issues(self, request: Request) -> tuple[Any, str]:
        repo = self._repo(request)
        q = request.query_params
        items = _by_state(self.corpus.data(repo).issues, q.get("state", "open"))
        if q.get("since"):
            since = _parse_time(q["since"])
            items = [i for i in items if i.updated >= since]
        if q.get("labels"):
            wanted = set(q["labels"].split(","))
            items = [i for i in items if wanted <= set(i.labels)]
        sort = q.get("sort", "created")
        key = {
            "created": lambda i: (i.created, i.number),
            "updated": lambda i: (i.updated, i.number),
            "comments": lambda i: (i.comments, i.number),
        }.get(sort)
        if key is None:
            raise GitHubError(422, "Validation Failed")
        items = sorted(items, key=key, reverse=q.get("direction", "desc") != "asc")
        return _page(request, items, lambda i: issue_json(repo, i))

    def get_issue(self, request: Request) -> tuple[Any, str]:
        repo = self._repo(request)
        issue = _find(self.corpus.data(repo).issues, int(request.path_params["number"]))
        return issue_json(repo, issue), ""

    def list_pulls(self, request: Request) -> tuple[Any, str]:
        repo = self._repo(request)
        q = request.query_params
        items = [i for i in _by_state(self.corpus.data(repo).issues, q.get("state", "open")) if i.is_pr]
        sort = q.get("sort", "created")
        key = {
            "created": lambda i: (i.created, i.number),
            "updated": lambda i: (i.updated, i.number),
            "popularity": lambda i: (i.comments, i.number),
            "long-running": lambda i: (i.created, i.number),
        }.get(sort)
        if key is None:
            raise GitHubError(422, "Validation Failed")
        default = "desc" if sort == "created" else "asc"
        items = sorted(items, key=key, reverse=q.get("direction", default) == "desc")
        repo_object = repo_json(repo, True, self._open(repo))
        return _page(request, items, lambda i: pull_json(repo, i, repo_object))

    def list_repo_comments(self, request: Request) -> tuple[Any, str]:
        repo = self._repo(request)
        q = request.query_params
        comments = self._since(self.corpus.data(repo).comments, q.get("since"))
        if q.get("sort"):
            field = "updated" if q["sort"] == "updated" else "created"
            comments = sorted(comments, key=lambda c: (getattr(c, field), c.id), reverse=q.get("direction") == "desc")
        return _page(request, comments, lambda c: comment_json(repo, c))

    def list_issue_comments(self, request: Request) -> tuple[Any, str]:
        repo = self._repo(request)
        number = int(request.path_params["number"])
        _find(self.corpus.data(repo).issues, number)
        comments = [c for c in self.corpus.data(repo).comments if c.issue_number == number]
        comments = self._since(comments, request.query_params.get("since"))
        return _page(request, comments, lambda c: comment_json(repo, c))

    def list_commits(self, request: Request) -> tuple[Any, str]:
        repo = self._repo(request)
        q = request.query_params
        if q.get("sha", "main") not in ("main", "HEAD"):
            raise GitHubError(404, "No commit found for SHA: " + q["sha"])
        commits = self.corpus.data(repo).commits
        # Filtered on the committer date (the usual assumption; GitHub does not document which date).
        if q.get("since"):
            since = _parse_time(q["since"])
            commits = [c for c in commits if c.committed >= since]
        if q.get("until"):
            until = _parse_time(q["until"])
            commits = [c for c in commits if c.committed <= until]
        return _page(request, commits, lambda c: commit_json(repo, c))

    def list_org_repos(self, request: Request) -> tuple[Any, str]:
        if request.path_params["org"] != ORG:
            raise GitHubError(404, "Not Found")
        return _page(request, self.corpus.repos, lambda r: repo_json(r, False, self._open(r)))

    def list_user_repos(self, request: Request) -> tuple[Any, str]:
        repos = sorted(self.corpus.repos, key=lambda r: f"{ORG}/{r.name}")  # default sort: full_name
        return _page(request, repos, lambda r: repo_json(r, True, self._open(r)))

    def get_user(self, request: Request) -> tuple[Any, str]:
        return user_json("backfill-bot"), ""

    def _open(self, repo: Repo) -> int:
        return sum(1 for i in self.corpus.data(repo).issues if not i.closed)

    @staticmethod
    def _since(comments: list[Comment], raw: str | None) -> list[Comment]:
        if not raw:
            return comments
        since = _parse_time(raw)
        return [c for c in comments if c.updated >= since]

    # ---- control -----------------------------------------------------------------------------------------
    def control(self, action: str, body: dict[str, Any]) -> Any:
        with self.lock:
            now = self.ctx.clock.now().replace(microsecond=0)
            if action == "reset":
                self.corpus = self._fresh()
                self.auth_fail = False
                self.used = 0
                self.window_end = None
                return {"reset": True}
            if action == "auth":
                self.auth_fail = bool(body.get("fail", True))
                return {"auth_fail": self.auth_fail}
            repo = self.corpus.repo(str(body.get("repo") or self.corpus.repos[0].name))
            if repo is None:
                raise ValueError(f"unknown repo {body.get('repo')}")
            data = self.corpus.data(repo)
            if action == "add_issue":
                number = len(data.issues) + 1
                is_pr = bool(body.get("pull_request"))
                issue = Issue(
                    id=repo.id * 100_000 + number,
                    number=number,
                    title=str(body.get("title") or f"Sandbox issue {number}"),
                    body=str(body.get("body") or "Created in the sandbox."),
                    user=self.corpus.logins[0],
                    labels=[],
                    created=now,
                    updated=now,
                    closed=None,
                    is_pr=is_pr,
                    pr_id=repo.id * 100_000 + 50_000 + number,
                )
                data.issues.append(issue)
                return {"repo": repo.name, "number": number, "pull_request": is_pr, "updated_at": _iso(now)}
            issue = _find(data.issues, int(body.get("number") or 1))
            if action == "edit_issue":
                issue.title = str(body.get("title") or f"{issue.title} (edited)")
                if body.get("state") in ("open", "closed"):
                    issue.closed = now if body["state"] == "closed" else None
                issue.updated = now
                return {
                    "repo": repo.name,
                    "number": issue.number,
                    "title": issue.title,
                    "updated_at": _iso(now),
                }
            if action == "comment":
                comment = Comment(
                    id=self.corpus.new_comment_id(repo),
                    issue_number=issue.number,
                    user=self.corpus.logins[1],
                    body=str(body.get("body") or "A new comment."),
                    created=now,
                    updated=now,
                )
                data.comments.append(comment)
                issue.comments += 1
                issue.updated = now
                return {
                    "repo": repo.name,
                    "number": issue.number,
                    "comment_id": comment.id,
                    "updated_at": _iso(now),
                }
        raise ValueError(f"unknown github action {action!r}")


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(raw: str) -> datetime:
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise GitHubError(422, "Validation Failed") from None


def _by_state(issues: list[Issue], state: str) -> list[Issue]:
    if state == "all":
        return list(issues)
    if state == "closed":
        return [i for i in issues if i.closed]
    if state == "open":
        return [i for i in issues if not i.closed]
    raise GitHubError(422, "Validation Failed")


def _find(issues: list[Issue], number: int) -> Issue:
    if not 1 <= number <= len(issues):
        raise GitHubError(404, "Not Found")
    return issues[number - 1]


def _page(request: Request, items: list[Any], serialise: Callable[[Any], dict[str, Any]]) -> tuple[Any, str]:
    """Slice one page and build the ``link`` header (omitted when everything fits on one page)."""
    q = dict(request.query_params)
    try:
        per_page = max(1, min(100, int(q.get("per_page", 30))))  # GitHub caps silently at 100
        page = max(1, int(q.get("page", 1)))
    except ValueError:
        raise GitHubError(422, "Validation Failed") from None
    last = max(1, math.ceil(len(items) / per_page))
    chunk = [serialise(item) for item in items[(page - 1) * per_page : page * per_page]]
    if last == 1:
        return chunk, ""
    base = str(request.url.replace(query=""))

    def url(n: int) -> str:
        return f"{base}?{urlencode({**q, 'per_page': per_page, 'page': n})}"

    rels = []
    if page < last:
        rels += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
    if page > 1:
        rels = [f'<{url(page - 1)}>; rel="prev"', *rels, f'<{url(1)}>; rel="first"']
    return chunk, ", ".join(rels)


def build(ctx: SandboxContext) -> ApiSpec:
    sim = GitHubSim(ctx)
    repo = "/repos/{owner}/{repo}"
    routes = [
        Route(f"{repo}/issues", sim.endpoint(sim.list_issues), methods=["GET"]),
        Route(f"{repo}/issues/comments", sim.endpoint(sim.list_repo_comments), methods=["GET"]),
        Route(f"{repo}/issues/{{number:int}}", sim.endpoint(sim.get_issue), methods=["GET"]),
        Route(f"{repo}/issues/{{number:int}}/comments", sim.endpoint(sim.list_issue_comments), methods=["GET"]),
        Route(f"{repo}/pulls", sim.endpoint(sim.list_pulls), methods=["GET"]),
        Route(f"{repo}/commits", sim.endpoint(sim.list_commits), methods=["GET"]),
        Route("/orgs/{org}/repos", sim.endpoint(sim.list_org_repos), methods=["GET"]),
        Route("/user/repos", sim.endpoint(sim.list_user_repos), methods=["GET"]),
        Route("/user", sim.endpoint(sim.get_user), methods=["GET"]),
    ]
    return ApiSpec(
        name="github",
        prefix="/github",
        app=Starlette(routes=routes),
        rate_limited=sim.rate_limited,
        server_error=lambda: JSONResponse({"message": "Server Error"}, status_code=502),
        # Secondary limits: 900 points/min per endpoint (~15/s), ≤ 100 concurrent requests.
        requests_per_second=15.0,
        burst=100,
        latency_ms=150.0,
        env=lambda base: {"GITHUB_API_URL": base, "GITHUB_TOKEN": GITHUB_TOKEN},
        control=sim.control,
    )
