"""Tempo Cloud REST v4 sandbox, mounted at ``/tempo``.

``GET /4/worklogs`` and ``POST /4/worklogs/search`` page by ``offset``/``limit`` (default 50, max 5000) with
``metadata.next`` as a full URL (absent on the last page); ``from``/``to`` filter the *work* date, ``updatedFrom``
the update time; results carry ``issue: {id, self}`` only (no key). Bearer auth; 401 is ``text/html``; 429 has no
``Retry-After`` (Tempo documents none).
"""

from __future__ import annotations

import json
import random
import re
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.context import ApiSpec, SandboxContext
from sandbox.jira import corpus as jira_corpus
from sandbox.tempo import corpus as corpus

__all__ = ["TEMPO_API_TOKEN", "build"]

TEMPO_API_TOKEN = "sandbox-tempo-api-token"
_MAX_LIMIT = 5000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z?$")
_ORDER_FIELDS = ("ID", "START_DATE_TIME", "UPDATED")


class _BadRequest(ValueError):
    pass


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"errors": {"message": message}}, status_code=status)


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Filters:
    start: date | None = None
    end: date | None = None
    updated_from: datetime | None = None
    issue_ids: set[int] = field(default_factory=set)
    project_ids: set[str] = field(default_factory=set)
    author_ids: set[str] = field(default_factory=set)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)

    def keep(self, w: corpus.Worklog) -> bool:
        day = w.start.date()
        return (
            (self.start is None or day >= self.start)
            and (self.end is None or day <= self.end)  # "up to and including"
            and (self.updated_from is None or w.updated >= self.updated_from)
            and (not self.issue_ids or w.issue_id in self.issue_ids)
            and (not self.project_ids or w.project_id in self.project_ids)
            and (not self.author_ids or w.author in self.author_ids)
        )

    def sort_key(self, w: corpus.Worklog) -> tuple[Any, ...]:
        values = {"ID": w.id, "START_DATE_TIME": w.start.timestamp(), "UPDATED": w.updated.timestamp()}
        if not self.order:
            return (w.start.timestamp(), w.id)
        return (*tuple(-values[name] if desc else values[name] for name, desc in self.order), w.id)


def _parse_date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    if not _DATE.match(value):
        raise _BadRequest(f"'{name}' must be valid on the format: 'yyyy-MM-dd'")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _BadRequest(f"'{name}' must be valid on the format: 'yyyy-MM-dd'") from None


def _parse_updated_from(value: str | None) -> datetime | None:
    if not value:
        return None
    if _DATE.match(value):
        day = _parse_date(value, "updatedFrom")
        return datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None
    if _DATETIME.match(value):
        return datetime.fromisoformat(value.rstrip("Z")).replace(tzinfo=UTC)
    raise _BadRequest("'updatedFrom' must be valid on the format: yyyy-MM-dd['T'HH:mm:ss]['Z']")


def _ints(values: list[Any], name: str) -> set[int]:
    try:
        return {int(v) for v in values}
    except (TypeError, ValueError):
        raise _BadRequest(f"'{name}' must be a list of numbers") from None


class _Tempo:
    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.anchor = ctx.clock.now()
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.edited: dict[int, corpus.Worklog] = {}
            self.added: list[corpus.Worklog] = []
            self.broken: set[int] = set()  # worklogs rendered with an unreadable timeSpentSeconds
            self.deleted: set[int] = set()  # worklogs deleted through the control API (gone from every listing)
            self.auth_fail = False

    def all_worklogs(self) -> list[corpus.Worklog]:
        base = corpus.worklogs(self.ctx.seed, self.ctx.scale, self.anchor)
        with self.lock:
            every = [self.edited.get(w.id, w) for w in base] + list(self.added)
            return [w for w in every if w.id not in self.deleted] if self.deleted else every

    def authorized(self, request: Request) -> bool:
        # The sandbox token, or any token that extends it (tests use marker tokens to prove secrets never leak).
        header = request.headers.get("authorization") or ""
        return not self.auth_fail and header.startswith(f"Bearer {TEMPO_API_TOKEN}")

    @staticmethod
    def unauthorized() -> Response:
        return Response("<html><body><h1>401 Unauthorized</h1></body></html>", 401, media_type="text/html")

    async def get_worklogs(self, request: Request) -> Response:
        if not self.authorized(request):
            return self.unauthorized()
        q = request.query_params
        try:
            filters = _Filters(
                start=_parse_date(q.get("from"), "from"),
                end=_parse_date(q.get("to"), "to"),
                updated_from=_parse_updated_from(q.get("updatedFrom")),
                issue_ids=_ints(q.getlist("issueId"), "issueId"),
                project_ids={str(p) for p in _ints(q.getlist("projectId"), "projectId")},
            )
            if q.get("orderBy"):
                if q["orderBy"] not in _ORDER_FIELDS:
                    raise _BadRequest(f"'orderBy' must be one of {', '.join(_ORDER_FIELDS)}")
                filters.order = [(q["orderBy"], True)]  # Tempo: "ordered by the specified field descending"
            return self._page(request, filters)
        except _BadRequest as exc:
            return _error(400, str(exc))

    async def search_worklogs(self, request: Request) -> Response:
        if not self.authorized(request):
            return self.unauthorized()
        try:
            body = json.loads(await request.body() or b"{}")
            order = [(str(o["field"]), str(o.get("order", "ASC")) == "DESC") for o in body.get("orderBy") or []]
            if any(f not in _ORDER_FIELDS for f, _ in order):
                raise _BadRequest(f"'orderBy.field' must be one of {', '.join(_ORDER_FIELDS)}")
            filters = _Filters(
                start=_parse_date(body.get("from"), "from"),
                end=_parse_date(body.get("to"), "to"),
                updated_from=_parse_updated_from(body.get("updatedFrom")),
                issue_ids=_ints(body.get("issueIds") or [], "issueIds"),
                project_ids={str(p) for p in _ints(body.get("projectIds") or [], "projectIds")},
                author_ids={str(a) for a in body.get("authorIds") or []},
                order=order,
            )
            return self._page(request, filters)
        except (_BadRequest, json.JSONDecodeError, KeyError, TypeError) as exc:
            return _error(400, str(exc))

    def _page(self, request: Request, filters: _Filters) -> Response:
        q = request.query_params
        try:
            offset = max(0, int(q.get("offset") or 0))
            limit = max(1, min(int(q.get("limit") or 50), _MAX_LIMIT))
        except ValueError:
            raise _BadRequest("'offset' and 'limit' must be numbers") from None
        matches = sorted((w for w in self.all_worklogs() if filters.keep(w)), key=filters.sort_key)
        page = matches[offset : offset + limit]
        base = f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"
        metadata: dict[str, Any] = {"count": len(page), "offset": offset, "limit": limit}
        if offset + limit < len(matches):
            metadata["next"] = _with_paging(request, offset + limit, limit)
        if offset > 0:
            metadata["previous"] = _with_paging(request, max(0, offset - limit), limit)
        results = [self._render(w, base) for w in page]
        for row in results:
            if row["tempoWorklogId"] in self.broken:
                row["timeSpentSeconds"] = "n/a"  # a record a client cannot map, with its other fields intact
        return JSONResponse({"self": str(request.url), "metadata": metadata, "results": results})

    @staticmethod
    def _render(w: corpus.Worklog, base: str) -> dict[str, Any]:
        jira = base.removesuffix("/tempo") + "/jira"
        return {
            "self": f"{base}/4/worklogs/{w.id}",
            "tempoWorklogId": w.id,
            "issue": {"self": f"{jira}/rest/api/2/issue/{w.issue_id}", "id": w.issue_id},
            "timeSpentSeconds": w.seconds,
            "billableSeconds": w.billable,
            "startDate": w.start.date().isoformat(),
            "startTime": w.start.strftime("%H:%M:%S"),
            "startDateTimeUtc": _stamp(w.start),
            "description": w.description,
            "createdAt": _stamp(w.created),
            "updatedAt": _stamp(w.updated),
            "author": {"self": f"{jira}/rest/api/2/user?accountId={w.author}", "accountId": w.author},
            "attributes": {
                "self": f"{base}/4/worklogs/{w.id}/work-attribute-values",
                "values": [{"key": "_Account_", "value": w.account}],
            },
        }

    # --- control ---
    def control(self, action: str, body: dict[str, Any]) -> Any:
        now = self.ctx.clock.now().replace(microsecond=0)
        if action == "reset":
            self.reset()
            return {"ok": True}
        if action == "backdate_worklog_edit":
            return self._backdate_edit(body.get("id"), now)
        if action == "add_worklog":
            return self._add(body.get("issue_id"), now)
        if action == "break_worklog":
            # {"id": n, "broken": true|false}: one record turns unmappable (or is repaired) without being edited
            with self.lock:
                (self.broken.add if body.get("broken", True) else self.broken.discard)(int(body["id"]))
            return {"broken": sorted(self.broken)}
        if action == "delete_worklog":
            # {"id": n} or {} for a seeded pick: the worklog leaves every listing, as DELETE /4/worklogs/{id} does
            with self.lock:
                every = self.all_worklogs()
                if body.get("id") is not None:
                    target = next((w for w in every if w.id == int(body["id"])), None)
                    if target is None:
                        raise KeyError(f"no worklog {body['id']}")
                else:
                    target = random.Random(f"{self.ctx.seed}:tempo:del:{len(self.deleted)}").choice(every)
                self.deleted.add(target.id)
            return {"id": str(target.id)}
        if action == "auth":
            self.auth_fail = bool(body.get("fail", True))
            return {"fail": self.auth_fail}
        if action == "stats":
            every = self.all_worklogs()
            return {
                "worklogs": len(every),
                "worklog_ids": [str(w.id) for w in every],
                "issue_ids": sorted({str(w.issue_id) for w in every}),
            }
        raise ValueError(f"unknown action {action!r}")

    def _backdate_edit(self, wanted: Any, now: datetime) -> dict[str, Any]:
        """Edit an old worklog now: its work date stays in the past while ``updatedAt`` becomes ``now``."""
        with self.lock:
            every = self.all_worklogs()
            if wanted is not None:
                target = next((w for w in every if w.id == int(wanted)), None)
                if target is None:
                    raise KeyError(f"no worklog {wanted}")
            else:
                old = [w for w in every if w.start < now - timedelta(days=90)]
                target = random.Random(f"{self.ctx.seed}:tempo:edit:{len(self.edited)}").choice(old)
            changed = replace(
                target, updated=now, seconds=target.seconds + 900, description=target.description + " (corrected)"
            )
            if any(w.id == target.id for w in self.added):
                self.added = [changed if w.id == target.id else w for w in self.added]
            else:
                self.edited[target.id] = changed
            return _summary(changed)

    def _add(self, issue_id: Any, now: datetime) -> dict[str, Any]:
        with self.lock:
            stubs = jira_corpus.issue_stubs(self.ctx.seed, self.ctx.scale, self.anchor)
            n = corpus.worklog_count(self.ctx.scale) + len(self.added)
            rng = random.Random(f"{self.ctx.seed}:tempo:new:{n}")
            stub = next((s for s in stubs if s.id == int(issue_id)), None) if issue_id else rng.choice(stubs)
            if stub is None:
                raise KeyError(f"no issue {issue_id}")
            start = now.replace(minute=0, second=0) - timedelta(hours=2)
            worklog = corpus.Worklog(
                id=corpus.FIRST_WORKLOG_ID + n,
                issue_id=stub.id,
                project_id=stub.project.id,
                author=jira_corpus.people(self.ctx.seed)[0][0],
                start=start,
                seconds=3600,
                billable=3600,
                description="Pairing on the sandbox rollout",
                created=now,
                updated=now,
                account="INTERNAL",
            )
            self.added.append(worklog)
            return _summary(worklog)


def _summary(w: corpus.Worklog) -> dict[str, Any]:
    return {"id": w.id, "issue_id": w.issue_id, "startDate": w.start.date().isoformat(), "updatedAt": _stamp(w.updated)}


def _with_paging(request: Request, offset: int, limit: int) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "limit")]
    params += [("offset", str(offset)), ("limit", str(limit))]
    return str(request.url.replace(query=urlencode(params)))


def build(ctx: SandboxContext) -> ApiSpec:
    tempo = _Tempo(ctx)
    app = Starlette(
        routes=[
            Route("/4/worklogs", tempo.get_worklogs, methods=["GET"]),
            Route("/4/worklogs/search", tempo.search_worklogs, methods=["POST"]),
        ]
    )

    def rate_limited(retry_after: float) -> Response:
        return _error(429, "Rate limit exceeded. Please slow down and retry later.")

    def server_error() -> Response:
        return _error(500, "An unexpected error occurred. Please try again later.")

    return ApiSpec(
        name="tempo",
        prefix="/tempo",
        app=app,
        rate_limited=rate_limited,
        server_error=server_error,
        requests_per_second=5.0,  # Tempo KB: at most 5 requests per second
        burst=5,
        latency_ms=150.0,
        env=lambda base_url: {"TEMPO_API_URL": base_url, "TEMPO_API_TOKEN": TEMPO_API_TOKEN},
        control=tempo.control,
    )
