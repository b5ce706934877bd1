"""Notion API simulator, mounted at ``/notion`` (``NOTION_API_URL=<base>/notion``; paths under ``/v1``).

Faithful to Notion's API (spec: ``tests/specs/notion/``): ``Notion-Version`` required (400 ``missing_version``),
Bearer auth (401 ``unauthorized``), error bodies ``{object:"error", status, code, message, request_id}``,
``start_cursor``/``next_cursor``/``has_more`` with ``page_size`` ≤ 100, block children one level at a time,
timestamps rounded down to the minute, trashed pages absent from search, 429 ``rate_limited`` with an integer
``Retry-After`` (the fault layer's bucket: 3 requests/s on average). Shapes follow ``Notion-Version: 2022-06-28``;
under ``2025-09-03`` search speaks ``data_source`` and databases are queried through ``/v1/data_sources``.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.context import ApiSpec, SandboxContext
from sandbox.jira.corpus import issue_keys
from sandbox.notion.corpus import NotionCorpus, notion_id
from sandbox.notion.objects import NotionError, block_object, database_object, minute, page_object

__all__ = ["NOTION_TOKEN", "SUPPORTED_VERSIONS", "build"]

NOTION_TOKEN = "secret_sandboxNotionIntegrationToken0000000000"
SUPPORTED_VERSIONS = ("2021-05-13", "2021-08-16", "2022-02-22", "2022-06-28", "2025-09-03", "2026-03-11")
_NEW_MODEL = ("2025-09-03", "2026-03-11")  # databases hold data sources


def _error(status: int, code: str, message: str, request_id: str = "") -> JSONResponse:
    body = {"object": "error", "status": status, "code": code, "message": message, "request_id": request_id}
    return JSONResponse(body, status_code=status)


def rate_limited(retry_after: float) -> Response:
    response = _error(429, "rate_limited", "You have been rate limited. Please try again in a few minutes.")
    response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def server_error() -> Response:
    return _error(500, "internal_server_error", "Unexpected error occurred.")


class NotionSim:
    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.lock = threading.RLock()
        self.corpus = self._fresh()
        self.auth_fail = False
        self.hidden: set[str] = set()  # pages search leaves out (search is not exhaustive), still readable by id
        self._requests = 0

    def _fresh(self) -> NotionCorpus:
        return NotionCorpus(
            self.ctx.seed, self.ctx.scale, self.ctx.clock.now(), issue_keys(self.ctx.seed, self.ctx.scale)
        )

    def _request_id(self) -> str:
        self._requests += 1
        return notion_id(self.ctx.seed, "request", self._requests)

    def endpoint(self, handler: Callable[[Request, dict[str, Any], str], dict[str, Any]]) -> Any:
        """Wrap a handler with version and auth checks, JSON body parsing and error translation."""

        async def run(request: Request) -> Response:
            with self.lock:
                request_id = self._request_id()
            version = request.headers.get("notion-version")
            if version is None:
                return _error(
                    400,
                    "missing_version",
                    "Notion-Version header failed validation: Notion-Version "
                    "header should be defined, instead was `undefined`.",
                    request_id,
                )
            if version not in SUPPORTED_VERSIONS:
                return _error(
                    400,
                    "validation_error",
                    f"Notion-Version header failed validation: Provided API version {version} is invalid.",
                    request_id,
                )
            auth = request.headers.get("authorization", "")
            # The sandbox token, or any token that extends it (tests use marker tokens to prove secrets never leak).
            if not auth.startswith(f"Bearer {NOTION_TOKEN}") or self.auth_fail:
                return _error(401, "unauthorized", "API token is invalid.", request_id)
            body: dict[str, Any] = {}
            if request.method in ("POST", "PATCH"):
                raw = await request.body()
                try:
                    body = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    return _error(400, "invalid_json", "Error parsing JSON body.", request_id)
                if not isinstance(body, dict):
                    return _error(400, "invalid_json", "Error parsing JSON body.", request_id)
            try:
                with self.lock:
                    return JSONResponse(handler(request, body, version))
            except NotionError as exc:
                return _error(exc.status, exc.code, exc.message, request_id)

        return run

    # ---- handlers ----------------------------------------------------------------------------------------
    def search(self, request: Request, body: dict[str, Any], version: str) -> dict[str, Any]:
        new_model = version in _NEW_MODEL
        db_word = "data_source" if new_model else "database"
        kinds = {"page", db_word}
        flt = body.get("filter") or {}
        if flt and (flt.get("property") != "object" or flt.get("value") not in kinds):
            raise NotionError(
                400,
                "validation_error",
                f"body failed validation: body.filter.value should "
                f"be `page` or `{db_word}`, instead was `{json.dumps(flt.get('value'))}`.",
            )
        sort = body.get("sort") or {"timestamp": "last_edited_time", "direction": "descending"}
        if sort.get("timestamp") != "last_edited_time" or sort.get("direction") not in (
            "ascending",
            "descending",
        ):
            raise NotionError(
                400,
                "validation_error",
                "body failed validation: body.sort.timestamp should be "
                "`last_edited_time` and body.sort.direction `ascending` or `descending`.",
            )
        query = str(body.get("query") or "").lower()
        items: list[tuple[datetime, str, dict[str, Any]]] = []
        if flt.get("value", "page") == "page":
            for page in self.corpus.by_index:
                if not self.corpus.is_trashed(page) and page.id not in self.hidden and query in page.title.lower():
                    items.append((minute(page.edited), page.id, page_object(self.corpus, page)))
        if flt.get("value", db_word) == db_word and query in self.corpus.database["title"].lower():
            db = database_object(self.corpus, data_source=new_model)
            items.append((minute(self.corpus.database["edited"]), db["id"], db))
        # Ties on the (minute-rounded) sort key are broken by id, so the order is total and stable.
        items.sort(key=lambda it: (it[0], it[1]), reverse=sort["direction"] == "descending")
        result = _paginate([it[2] for it in items], body.get("start_cursor"), body.get("page_size"))
        kind = "page_or_data_source" if new_model else "page_or_database"
        return {**result, "type": kind, kind: {}}

    def get_page(self, request: Request, body: dict[str, Any], version: str) -> dict[str, Any]:
        page = self.corpus.pages.get(_uuid(request.path_params["page_id"]))
        if page is None:
            raise _not_found(request.path_params["page_id"])
        return page_object(self.corpus, page)

    def get_block(self, request: Request, body: dict[str, Any], version: str) -> dict[str, Any]:
        block_id = _uuid(request.path_params["block_id"])
        block = self.corpus.block(block_id)
        if block is None:
            raise _not_found(request.path_params["block_id"])
        return block_object(self.corpus, block)

    def block_children(self, request: Request, body: dict[str, Any], version: str) -> dict[str, Any]:
        block_id = _uuid(request.path_params["block_id"])
        page = self.corpus.pages.get(block_id)
        if page is not None:
            ids = self.corpus.top_blocks(page)
        else:
            block = self.corpus.block(block_id)
            if block is None:
                raise _not_found(request.path_params["block_id"])
            ids = block.children
        blocks = [block_object(self.corpus, self.corpus.blocks[i]) for i in ids]
        params = request.query_params
        result = _paginate(blocks, params.get("start_cursor"), params.get("page_size"))
        return {**result, "type": "block", "block": {}}

    def get_database(self, request: Request, body: dict[str, Any], version: str) -> dict[str, Any]:
        self._database(request.path_params["database_id"])
        return database_object(self.corpus, data_source=False)

    def query_database(self, request: Request, body: dict[str, Any], version: str) -> dict[str, Any]:
        is_data_source = "data_source_id" in request.path_params
        if (version in _NEW_MODEL) != is_data_source:
            route = "/v1/data_sources/{id}/query" if version in _NEW_MODEL else "/v1/databases/{id}/query"
            raise NotionError(
                400, "invalid_request_url", f"Invalid request URL for Notion-Version {version}: use {route}."
            )
        self._database(request.path_params.get("data_source_id") or request.path_params["database_id"])
        keep = _timestamp_filter(body.get("filter"))
        rows = [p for p in self.corpus.by_index if p.row is not None and not self.corpus.is_trashed(p) and keep(p)]
        sorts = body.get("sorts") or [{"timestamp": "created_time", "direction": "descending"}]
        sort = sorts[0]
        field = "edited" if sort.get("timestamp") == "last_edited_time" else "created"
        rows.sort(key=lambda p: (minute(getattr(p, field)), p.id), reverse=sort.get("direction") == "descending")
        result = _paginate([page_object(self.corpus, p) for p in rows], body.get("start_cursor"), body.get("page_size"))
        return {**result, "type": "page_or_database", "page_or_database": {}}

    def me(self, request: Request, body: dict[str, Any], version: str) -> dict[str, Any]:
        return {
            "object": "user",
            "id": self.corpus.bot_id,
            "name": "Backfill",
            "avatar_url": None,
            "type": "bot",
            "bot": {"owner": {"type": "workspace", "workspace": True}, "workspace_name": "Backfill Sandbox"},
        }

    def _database(self, raw_id: str) -> None:
        if _uuid(raw_id) != self.corpus.database["id"]:
            raise _not_found(raw_id)

    # ---- control -----------------------------------------------------------------------------------------
    def control(self, action: str, body: dict[str, Any]) -> Any:
        with self.lock:
            now = self.ctx.clock.now()
            if action == "reset":
                self.corpus = self._fresh()
                self.auth_fail = False
                self.hidden = set()
                self._requests = 0
                return {"reset": True}
            if action == "auth":
                self.auth_fail = bool(body.get("fail", True))
                return {"auth_fail": self.auth_fail}
            if action == "stats":
                live = [p.id for p in self.corpus.by_index if not self.corpus.is_trashed(p)]
                return {"pages": len(live), "page_ids": live, "trashed": len(self.corpus.by_index) - len(live)}
            if action == "add_page":
                page = self.corpus.add_page(str(body.get("title") or "Sandbox page"), body.get("parent_page_id"), now)
                return {"id": page.id, "title": page.title, "last_edited_time": _iso(minute(now))}
            page = self._target(body.get("page_id"))
            if action == "hide_from_search":
                # Search "is not guaranteed to return everything": the page stays readable by id and in the tree.
                (self.hidden.add if body.get("hidden", True) else self.hidden.discard)(page.id)
                return {"id": page.id, "hidden": page.id in self.hidden}
            if action == "edit_page" and body.get("replace_text") is not None:
                # Replace the text of one paragraph (``block_id``, default: the page's first one) in place.
                block, old = self.corpus.replace_paragraph(page, body.get("block_id"), str(body["replace_text"]), now)
                if body.get("title"):
                    page.title = str(body["title"])
                page.edited = now
                return {
                    "id": page.id,
                    "title": page.title,
                    "block_id": block.id,
                    "old_text": old,
                    "last_edited_time": _iso(minute(now)),
                }
            if action == "edit_page":
                if body.get("title"):
                    page.title = str(body["title"])
                block_id = self.corpus.append_paragraph(page, str(body.get("text") or f"Edited at {_iso(now)}"), now)
                page.edited = now
                return {
                    "id": page.id,
                    "title": page.title,
                    "block_id": block_id,
                    "last_edited_time": _iso(minute(now)),
                }
            if action == "trash_page":
                page.trashed = True
                page.edited = now
                return {"id": page.id, "in_trash": True, "last_edited_time": _iso(minute(now))}
        raise ValueError(f"unknown notion action {action!r}")

    def _target(self, page_id: str | None) -> Any:
        if page_id:
            page = self.corpus.pages.get(_uuid(page_id))
            if page is None:
                raise ValueError(f"unknown page {page_id}")
            return page
        # The default target: the first live, non-database page below the top level.
        return next(
            p
            for p in self.corpus.by_index
            if p.row is None and p.parent["type"] == "page_id" and not self.corpus.is_trashed(p)
        )


def _paginate(items: list[dict[str, Any]], start_cursor: Any, page_size: Any) -> dict[str, Any]:
    size = 100 if page_size in (None, "") else _int(page_size)
    if not 1 <= size <= 100:
        raise NotionError(
            400,
            "validation_error",
            f"body failed validation: body.page_size should be a number "
            f"less than or equal to `100`, instead was `{size}`.",
        )
    start = 0
    if start_cursor:
        ids = [it["id"] for it in items]
        if start_cursor not in ids:
            raise NotionError(400, "validation_error", f"The start_cursor provided is invalid: {start_cursor}")
        start = ids.index(start_cursor)
    page = items[start : start + size]
    more = start + size < len(items)
    return {
        "object": "list",
        "results": page,
        "next_cursor": items[start + size]["id"] if more else None,
        "has_more": more,
    }


def _timestamp_filter(flt: dict[str, Any] | None) -> Callable[[Any], bool]:
    if not flt:
        return lambda page: True
    timestamp = flt.get("timestamp")
    if timestamp not in ("last_edited_time", "created_time"):
        raise NotionError(
            400,
            "validation_error",
            "body failed validation: only timestamp filters on "
            "last_edited_time or created_time are supported by the sandbox.",
        )
    condition = flt.get(timestamp) or {}
    field = "edited" if timestamp == "last_edited_time" else "created"
    ops = {
        "after": lambda a, b: a > b,
        "on_or_after": lambda a, b: a >= b,
        "before": lambda a, b: a < b,
        "on_or_before": lambda a, b: a <= b,
        "equals": lambda a, b: a == b,
    }
    checks = []
    for op, raw in condition.items():
        if op not in ops:
            raise NotionError(400, "validation_error", f"body failed validation: unknown condition {op}.")
        bound = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        checks.append((ops[op], bound))
    return lambda page: all(fn(minute(getattr(page, field)), bound) for fn, bound in checks)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotionError(400, "validation_error", "page_size should be a number.") from None


def _uuid(raw: str) -> str:
    """Notion accepts ids with or without dashes."""
    hexed = raw.replace("-", "").lower()
    if len(hexed) != 32:
        return raw
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


def _not_found(raw_id: str) -> NotionError:
    return NotionError(
        404,
        "object_not_found",
        f"Could not find object with ID: {raw_id}. Make sure the "
        "relevant pages and databases are shared with your integration.",
    )


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def build(ctx: SandboxContext) -> ApiSpec:
    sim = NotionSim(ctx)
    routes = [
        Route("/v1/search", sim.endpoint(sim.search), methods=["POST"]),
        Route("/v1/pages/{page_id}", sim.endpoint(sim.get_page), methods=["GET"]),
        Route("/v1/blocks/{block_id}", sim.endpoint(sim.get_block), methods=["GET"]),
        Route("/v1/blocks/{block_id}/children", sim.endpoint(sim.block_children), methods=["GET"]),
        Route("/v1/databases/{database_id}", sim.endpoint(sim.get_database), methods=["GET"]),
        Route("/v1/databases/{database_id}/query", sim.endpoint(sim.query_database), methods=["POST"]),
        Route("/v1/data_sources/{data_source_id}/query", sim.endpoint(sim.query_database), methods=["POST"]),
        Route("/v1/users/me", sim.endpoint(sim.me), methods=["GET"]),
    ]
    return ApiSpec(
        name="notion",
        prefix="/notion",
        app=Starlette(routes=routes),
        rate_limited=rate_limited,
        server_error=server_error,
        requests_per_second=3.0,  # "an average of three requests per second", bursts allowed
        burst=10,
        latency_ms=250.0,
        env=lambda base: {"NOTION_API_URL": base, "NOTION_TOKEN": NOTION_TOKEN},
        control=sim.control,
    )
