"""Jira Cloud REST v3 sandbox, mounted at ``/jira``.

Faithful where connectors go wrong: ``/search/jql`` pages by ``nextPageToken`` only (``startAt`` is accepted and
ignored), ``fields`` defaults to ``id``, pages are capped (100 with fields, 5000 for id/key only), JQL date bounds
are read in the API user's time zone, the old ``/search`` answers 410, bulkfetch refuses more than 100 ids, the
embedded comment list stops at 100 while ``/comment`` pages through all, and 429s carry Jira's burst headers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from bisect import bisect_right
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.context import ApiSpec, SandboxContext
from sandbox.jira.jql import JqlError, Query, parse_jql
from sandbox.jira.state import ALL_FIELDS, EMBEDDED_COMMENTS, JiraState, jira_time

__all__ = ["JIRA_API_TOKEN", "JIRA_EMAIL", "build"]

JIRA_EMAIL = "backfill-bot@example.com"
JIRA_API_TOKEN = "sandbox-jira-api-token"
_ID_ONLY_CAP = 5000
_FIELDS_CAP = 100
_BULK_CAP = 100
_GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration "
    "guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
_BAD_PAYLOAD = "Invalid request payload. Refer to the REST API documentation and try again."
_UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."


def _error(status: int, *messages: str) -> JSONResponse:
    return JSONResponse({"errorMessages": list(messages), "errors": {}}, status_code=status)


async def _json_object(request: Request) -> dict[str, Any] | None:
    """The request's JSON object body, or None when it is not one (Jira answers 400)."""
    try:
        body = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _base(request: Request) -> str:
    """The mount's public URL (``…/jira``), so ``self`` links point back into the sandbox."""
    return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}".rstrip("/")


def _int_param(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise JqlError(f"The value '{value}' is invalid for the parameter '{name}'.") from None


def resolve_fields(raw: list[str], default: list[str]) -> list[str]:
    """Jira's ``fields`` rules: comma lists, repeatable, ``*all``/``*navigable``, ``-field`` excludes."""
    items = [part.strip() for entry in raw for part in str(entry).split(",") if part.strip()] or default
    include: list[str] = []
    exclude = {item[1:] for item in items if item.startswith("-")}
    for item in items:
        if item.startswith("-"):
            continue
        include.extend(ALL_FIELDS if item in ("*all", "*navigable") else (item,))
    if exclude and not include:
        include = list(ALL_FIELDS)
    return [f for f in dict.fromkeys(include) if f not in exclude]


class _Jira:
    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.state = JiraState(ctx.seed, ctx.scale, ctx.clock)
        account = hashlib.sha256(f"{ctx.seed}:jira:bot".encode()).hexdigest()[:24]
        self.bot_account = f"712020:{account}"

    # --- auth ---
    def authorized(self, request: Request) -> bool:
        if self.state.auth_fail:
            return False
        # The sandbox token, or any token that extends it (tests use marker tokens to prove secrets never leak).
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            email, _, token = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return scheme == "Basic" and email == JIRA_EMAIL and token.startswith(JIRA_API_TOKEN)

    @staticmethod
    def unauthorized() -> Response:
        return Response(
            "Client must be authenticated to access this resource.",
            status_code=401,
            media_type="text/plain;charset=UTF-8",
        )

    # --- endpoints ---
    async def search_jql(self, request: Request) -> Response:
        if not self.authorized(request):
            return self.unauthorized()
        if request.method == "POST":
            body = await _json_object(request)
            if body is None:
                return _error(400, _BAD_PAYLOAD)
            fields_raw = body.get("fields") or []
            params = body
        else:
            params = dict(request.query_params)
            fields_raw = request.query_params.getlist("fields")
        # ``startAt`` is not a parameter of this endpoint: accepted and ignored, exactly like Jira. Counted, so
        # tests can prove a connector never relies on it.
        if "startAt" in params:
            self.ctx.count("jira", request.method, "/rest/api/3/search/jql with startAt (ignored)")
        try:
            return self._search(request, str(params.get("jql") or ""), fields_raw, params)
        except JqlError as exc:
            return _error(400, str(exc))

    def _search(self, request: Request, jql: str, fields_raw: list[str], params: dict[str, Any]) -> Response:
        state = self.state
        # Each distinct query is counted too ("jira JQL <jql>"), so tests can tell which partitions were fetched.
        self.ctx.count("jira", "JQL", " ".join(jql.split()))
        aliases = {alias.upper(): p.key for p in state.projects() for alias in (p.key, p.id, p.name)}
        query = parse_jql(jql, now=self.ctx.clock.now(), tz=state.tz, projects=aliases)
        if query.where is None:
            raise JqlError(_UNBOUNDED)
        wanted = resolve_fields(fields_raw if isinstance(fields_raw, list) else [fields_raw], ["id"])
        cap = _ID_ONLY_CAP if set(wanted) <= {"id", "key"} else _FIELDS_CAP
        limit = max(1, min(_int_param(params.get("maxResults"), "maxResults", 50), cap))
        rows = sorted((r for r in state.rows() if query.where(r)), key=lambda r: query.comparable(query.sort_values(r)))
        start = self._token_start(query, jql, rows, params.get("nextPageToken"))
        page = rows[start : start + limit]
        base = _base(request)
        issues = [state.render_issue(state.find(str(r.id)), wanted, base) for r in page]  # type: ignore[arg-type]
        out: dict[str, Any] = {"issues": issues}
        if start + limit < len(rows):
            out["nextPageToken"] = _encode_token(jql, query.sort_values(page[-1]))
        out["isLast"] = start + limit >= len(rows)
        return JSONResponse(out)

    @staticmethod
    def _token_start(query: Query, jql: str, rows: list[Any], token: Any) -> int:
        """Where the page after ``token`` starts: just past the last row sent (keyset, so edits don't shift it)."""
        if not token:
            return 0
        try:
            data = json.loads(base64.urlsafe_b64decode(str(token) + "=" * (-len(str(token)) % 4)))
            if data["q"] != _jql_hash(jql):
                raise ValueError("token from another query")
            last = query.comparable(data["after"])
        except (ValueError, KeyError, TypeError):
            raise JqlError("The provided next page token is invalid or expired.") from None
        keys = [query.comparable(query.sort_values(r)) for r in rows]
        return bisect_right(keys, last)

    async def old_search(self, request: Request) -> Response:
        return _error(410, _GONE)

    async def bulkfetch(self, request: Request) -> Response:
        if not self.authorized(request):
            return self.unauthorized()
        body = await _json_object(request)
        if body is None:
            return _error(400, _BAD_PAYLOAD)
        ids = body.get("issueIdsOrKeys") or []
        if not isinstance(ids, list) or not 1 <= len(ids) <= _BULK_CAP:
            return _error(400, f"issueIdsOrKeys must contain between 1 and {_BULK_CAP} issue ids or keys.")
        wanted = resolve_fields(body.get("fields") or [], ["*navigable"])
        found = {s.id: s for s in (self.state.find(str(x)) for x in ids) if s is not None}
        base = _base(request)
        issues = [self.state.render_issue(found[i], wanted, base) for i in sorted(found)]
        return JSONResponse({"issues": issues, "issueErrors": []})

    async def project_search(self, request: Request) -> Response:
        if not self.authorized(request):
            return self.unauthorized()
        q = request.query_params
        try:
            start = max(0, _int_param(q.get("startAt"), "startAt", 0))
            limit = max(1, min(_int_param(q.get("maxResults"), "maxResults", 50), 100))
        except JqlError as exc:
            return _error(400, str(exc))
        statuses = {s for v in q.getlist("status") for s in v.split(",")} or {"live"}
        keys = {k.upper() for v in q.getlist("keys") for k in v.split(",") if k}
        ids = {i for v in q.getlist("id") for i in v.split(",") if i}
        text = (q.get("query") or "").lower()
        projects = [
            p
            for p in self.state.projects()
            if ("archived" if p.archived else "live") in statuses
            and (not keys or p.key in keys)
            and (not ids or p.id in ids)
            and (text in p.key.lower() or text in p.name.lower())
        ]
        order = q.get("orderBy") or "key"
        field = order.lstrip("+-")
        projects.sort(
            key=lambda p: getattr(p, field if field in ("key", "name", "id") else "key"), reverse=order.startswith("-")
        )
        if not projects:
            return _error(404, "No projects found.")
        base = _base(request)
        page = projects[start : start + limit]
        url = f"{base}/rest/api/3/project/search"
        out: dict[str, Any] = {"self": f"{url}?{urlencode({'startAt': start, 'maxResults': limit})}"}
        if start + limit < len(projects):
            out["nextPage"] = f"{url}?{urlencode({'startAt': start + limit, 'maxResults': limit})}"
        out |= {
            "maxResults": limit,
            "startAt": start,
            "total": len(projects),
            "isLast": start + limit >= len(projects),
            "values": [self._project(p, base) for p in page],
        }
        return JSONResponse(out)

    def _project(self, p: Any, base: str) -> dict[str, Any]:
        avatar = f"{base}/rest/api/3/universal_avatar/view/type/project/avatar/{p.id}"
        out = {
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            "self": f"{base}/rest/api/3/project/{p.id}",
            "id": p.id,
            "key": p.key,
            "name": p.name,
            "avatarUrls": {s: f"{avatar}?size={s}" for s in ("48x48", "24x24", "16x16", "32x32")},
            "projectTypeKey": "software",
            "simplified": False,
            "style": "classic",
            "isPrivate": False,
            "properties": {},
        }
        if p.archived:
            out |= {
                "archived": True,
                "archivedDate": jira_time(p.archived_at, self.state.tz),
                "archivedBy": self.state.user(p.lead, base),
            }
        return out

    async def comments(self, request: Request) -> Response:
        if not self.authorized(request):
            return self.unauthorized()
        stub = self.state.find(request.path_params["issue"])
        if stub is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        base = _base(request)
        if request.method == "POST":
            body = await _json_object(request)
            if body is None or not isinstance(body.get("body"), dict):
                return _error(400, "Comment body can not be empty!")
            visibility = body.get("visibility") if isinstance(body.get("visibility"), dict) else None
            _, comment = self.state.comment(stub.key, body["body"], visibility=visibility)
            return JSONResponse(self.state.render_comment(stub, comment, base), status_code=201)
        q = request.query_params
        try:
            start = max(0, _int_param(q.get("startAt"), "startAt", 0))
            limit = max(1, min(_int_param(q.get("maxResults"), "maxResults", 100), 100))
        except JqlError as exc:
            return _error(400, str(exc))
        items = self.state.comments(stub)
        if (q.get("orderBy") or "created").startswith("-"):
            items = items[::-1]
        shown = [self.state.render_comment(stub, c, base) for c in items[start : start + limit]]
        return JSONResponse({"comments": shown, "maxResults": limit, "total": len(items), "startAt": start})

    async def myself(self, request: Request) -> Response:
        if not self.authorized(request):
            return self.unauthorized()
        base = _base(request)
        return JSONResponse(
            {
                "self": f"{base}/rest/api/3/user?accountId={self.bot_account}",
                "accountId": self.bot_account,
                "accountType": "atlassian",
                "emailAddress": JIRA_EMAIL,
                "avatarUrls": {s: f"{base}/avatar/bot?s={s}" for s in ("48x48", "24x24", "16x16", "32x32")},
                "displayName": "Backfill Bot",
                "active": True,
                "timeZone": self.state.tz_name,
                "locale": "en_US",
                "groups": {"size": 1, "items": []},
                "applicationRoles": {"size": 1, "items": []},
                "expand": "groups,applicationRoles",
            }
        )

    # --- control ---
    def control(self, action: str, body: dict[str, Any]) -> Any:
        state = self.state
        if action == "reset":
            state.reset()
            return {"ok": True}
        if action == "edit_issue":
            return _changed(state.edit(body.get("key"), int(body.get("n", 1))), state)
        if action == "add_issue":
            return _changed(state.add(body.get("project"), int(body.get("n", 1))), state)
        if action == "comment":
            stub, comment = state.comment(
                str(body["key"]),
                body.get("body"),
                visibility=body.get("visibility"),
                jsd_public=bool(body.get("jsdPublic", True)),
            )
            return {
                "key": stub.key,
                "id": str(stub.id),
                "comment_id": comment["id"],
                "updated": jira_time(comment["created"], ZoneInfo("UTC")),
            }
        if action == "set_security":
            stub = state.set_security(str(body["key"]), body.get("level"))
            return {"key": stub.key, "id": str(stub.id), "level": body.get("level")}
        if action == "delete_issue":
            stub = state.delete(body.get("key"))
            return {"key": stub.key, "id": str(stub.id)}
        if action == "delete_project":
            return _changed(state.delete_project(str(body["key"])), state)
        if action == "set_timezone":
            try:
                ZoneInfo(str(body["tz"]))
            except ZoneInfoNotFoundError:
                raise ValueError(f"unknown time zone {body['tz']!r}") from None
            state.tz_name = str(body["tz"])
            return {"timeZone": state.tz_name}
        if action == "auth":
            state.auth_fail = bool(body.get("fail", True))
            return {"fail": state.auth_fail}
        if action == "stats":
            stubs = state.stubs()
            totals = [len(state.comments(stub)) for stub in stubs if stub.comment_count > EMBEDDED_COMMENTS]
            return {
                "projects": len(state.projects()),
                "issues": len(stubs),
                "issue_ids": [str(stub.id) for stub in stubs],
                # issues whose comments don't all fit the search response, and the /comment pages they need
                "issues_with_paged_comments": len(totals),
                "comment_pages": sum(-(-total // EMBEDDED_COMMENTS) for total in totals),
            }
        raise ValueError(f"unknown action {action!r}")


def _changed(stubs: list[Any], state: JiraState) -> dict[str, Any]:
    return {
        "keys": [s.key for s in stubs],
        "ids": [str(s.id) for s in stubs],
        "updated": [jira_time(state.overlay.updated.get(s.id, s.updated), ZoneInfo("UTC")) for s in stubs],
    }


def _jql_hash(jql: str) -> str:
    return hashlib.sha1(" ".join(jql.split()).encode()).hexdigest()[:12]


def _encode_token(jql: str, after: list[Any]) -> str:
    raw = json.dumps({"q": _jql_hash(jql), "after": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def build(ctx: SandboxContext) -> ApiSpec:
    jira = _Jira(ctx)
    app = Starlette(
        routes=[
            Route("/rest/api/3/search/jql", jira.search_jql, methods=["GET", "POST"]),
            Route("/rest/api/3/search", jira.old_search, methods=["GET", "POST"]),
            Route("/rest/api/2/search", jira.old_search, methods=["GET", "POST"]),
            Route("/rest/api/3/issue/bulkfetch", jira.bulkfetch, methods=["POST"]),
            Route("/rest/api/3/project/search", jira.project_search, methods=["GET"]),
            Route("/rest/api/3/issue/{issue}/comment", jira.comments, methods=["GET", "POST"]),
            Route("/rest/api/3/myself", jira.myself, methods=["GET"]),
        ]
    )

    def rate_limited(retry_after: float) -> Response:
        reset = (ctx.clock.now() + timedelta(seconds=math.ceil(retry_after))).strftime("%Y-%m-%dT%H:%MZ")
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Limit": "100",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-NearLimit": "true",
            "X-RateLimit-Reset": reset,
            "RateLimit-Reason": "jira-burst-based",
        }
        return JSONResponse({"errorMessages": ["Rate limit exceeded."], "errors": {}}, 429, headers=headers)

    def server_error() -> Response:
        return JSONResponse({"errorMessages": ["Internal server error"], "errors": {}}, status_code=500)

    return ApiSpec(
        name="jira",
        prefix="/jira",
        app=app,
        rate_limited=rate_limited,
        server_error=server_error,
        requests_per_second=50.0,
        burst=100,
        latency_ms=250.0,
        env=lambda base_url: {"JIRA_URL": base_url, "JIRA_EMAIL": JIRA_EMAIL, "JIRA_API_TOKEN": JIRA_API_TOKEN},
        control=jira.control,
    )
