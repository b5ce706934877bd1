"""Pinecone data-plane simulator (serverless, dense, cosine), mounted at the root like a real index host.

Routes: ``POST /vectors/upsert``, ``GET /vectors/fetch``, ``POST /query``, ``POST|GET
/describe_index_stats``, ``POST /vectors/delete``, ``GET /vectors/list``, ``POST /vectors/update``. Any
non-empty ``Api-Key`` is accepted (as Pinecone Local does); none gives 401.

Wire shapes follow the 2025-10 / 2026-04 data-plane specs (``tests/specs/pinecone/``): camelCase keys,
``upsertedCount`` always present, ``namespace`` and ``usage`` echoed, gRPC-status error bodies ``{"code": 3,
"message": ..., "details": []}``. Limits: 1000 records and 2 MiB per request (bodies over
``PROXY_LIMIT_BYTES`` get a bare HTML 413 from the "proxy"), 40,960 bytes of metadata per record measured as
the UTF-8 bytes of its compact JSON after nulls are stripped, flat metadata types, the index dimension, 1000
ids per fetch/delete, ``topK`` ≤ 10,000, list ``limit`` ≤ 100. One bad record fails the whole request.
Values are stored as the JSON text sent (see ``pinecone_store``). Writes answer ``x-pinecone-request-lsn``; queries
``x-pinecone-max-indexed-lsn``.

Namespaces: absent and ``""`` are the default namespace; ``"__default__"`` is an alias of it from API
version 2025-04 (``X-Pinecone-Api-Version``; no header means the oldest, 2025-01, which rejects it).
Responses and stats name the default namespace ``"__default__"`` from 2025-04, ``""`` before.

Switches in ``ctx.settings["pinecone"]`` (``POST /_control/faults {"pinecone": {...}}`` or ``POST
/_control/pinecone/faults {...}``): ``dimension`` (initial, read at build), ``visibility_lag_s`` (writes and
deletes invisible to fetch/query/list/stats for that many real seconds), ``drop_write_ratio`` (that share of
records silently not stored, still counted in ``upsertedCount``), ``short_upserted_count`` (int: the last N
records of each upsert are neither stored nor counted). ``rate_429``/``rate_5xx`` and the other generic
switches are applied by the fault layer with this module's 429/5xx. Control actions: ``reset``, ``configure
{"dimension": n}`` (empties the index), ``faults {...}``, ``stats`` (true counts, ignoring lag).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox import fastjson
from sandbox.context import ApiSpec, SandboxContext
from sandbox.pinecone.ops import (
    MAX_REQUEST_BYTES,
    PROXY_LIMIT_BYTES,
    PineconeError,
    PineconeSim,
    RequestInfo,
    json_object,
)

__all__ = ["SANDBOX_PINECONE_KEY", "build"]

SANDBOX_PINECONE_KEY = "pcsk-sandbox-pinecone"
_MIB = 1024 * 1024
_PROXY_413 = (
    "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    "<center><h1>413 Request Entity Too Large</h1></center>\r\n</body>\r\n</html>\r\n"
)

Handler = Callable[[RequestInfo, Request, bytes], tuple[Any, dict[str, str]]]


def _error(status: int, grpc_code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = fastjson.dumps({"code": grpc_code, "message": message, "details": []})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def build(ctx: SandboxContext) -> ApiSpec:
    sim = PineconeSim(ctx)

    def endpoint(handler: Handler) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            if not request.headers.get("api-key", "").strip():
                ctx.reject("pinecone", "missing_api_key")
                return _error(401, 16, "Unauthorized: the request is missing a valid 'Api-Key' header")
            declared = int(request.headers.get("content-length") or 0)
            if declared > PROXY_LIMIT_BYTES:
                ctx.reject("pinecone", "payload_too_large")
                return Response(_PROXY_413, status_code=413, media_type="text/html")
            raw = await request.body()
            if len(raw) > PROXY_LIMIT_BYTES:
                ctx.reject("pinecone", "payload_too_large")
                return Response(_PROXY_413, status_code=413, media_type="text/html")
            if len(raw) > MAX_REQUEST_BYTES:
                ctx.reject("pinecone", "request_too_large")
                size_mb = math.ceil(len(raw) / _MIB)
                message = f"Request size {size_mb}MB exceeds the maximum supported size of 2MB"
                return _error(400, 3, message)
            info = RequestInfo(request)
            try:
                body, headers = await run_in_threadpool(_serve, handler, info, request, raw)
            except PineconeError as exc:
                ctx.reject("pinecone", exc.reason)
                return _error(exc.status, exc.grpc_code, exc.message)
            return Response(body, media_type="application/json", headers=headers)

        return run

    def _serve(handler: Handler, info: RequestInfo, request: Request, raw: bytes) -> tuple[bytes, dict[str, str]]:
        body, headers = handler(info, request, raw)
        return fastjson.dumps(body), headers

    def upsert(info: RequestInfo, request: Request, raw: bytes) -> tuple[Any, dict[str, str]]:
        return sim.upsert(info, raw)

    def fetch(info: RequestInfo, request: Request, raw: bytes) -> tuple[Any, dict[str, str]]:
        params = request.query_params
        return sim.fetch(info, params.getlist("ids"), params.get("namespace")), {}

    def query(info: RequestInfo, request: Request, raw: bytes) -> tuple[Any, dict[str, str]]:
        return sim.query(info, json_object(raw))

    def stats(info: RequestInfo, request: Request, raw: bytes) -> tuple[Any, dict[str, str]]:
        return sim.describe_stats(info, json_object(raw)), {}

    def delete(info: RequestInfo, request: Request, raw: bytes) -> tuple[Any, dict[str, str]]:
        return sim.delete(info, json_object(raw))

    def list_ids(info: RequestInfo, request: Request, raw: bytes) -> tuple[Any, dict[str, str]]:
        return sim.list_ids(info, dict(request.query_params)), {}

    def update(info: RequestInfo, request: Request, raw: bytes) -> tuple[Any, dict[str, str]]:
        return sim.update(info, json_object(raw))

    def rate_limited(retry_after: float) -> Response:
        message = (
            "Request failed. You've reached the request rate limit for this index (TOO_MANY_REQUESTS). "
            "Please retry after a short wait."
        )
        return _error(429, 8, message, {"Retry-After": f"{retry_after:.3f}".rstrip("0").rstrip(".")})

    def server_error() -> Response:
        return _error(503, 14, "The service is temporarily unavailable. Please try again later.")

    app = Starlette(
        routes=[
            Route("/vectors/upsert", endpoint(upsert), methods=["POST"]),
            Route("/vectors/fetch", endpoint(fetch), methods=["GET"]),
            Route("/query", endpoint(query), methods=["POST"]),
            Route("/describe_index_stats", endpoint(stats), methods=["POST", "GET"]),
            Route("/vectors/delete", endpoint(delete), methods=["POST"]),
            Route("/vectors/list", endpoint(list_ids), methods=["GET"]),
            Route("/vectors/update", endpoint(update), methods=["POST"]),
        ]
    )
    return ApiSpec(
        name="pinecone",
        prefix="",
        app=app,
        rate_limited=rate_limited,
        server_error=server_error,
        requests_per_second=100.0,  # upsert/fetch/stats are 100 req/s per namespace or index
        burst=100,
        latency_ms=20.0,
        env=lambda base_url: {"PINECONE_INDEX_HOST": base_url, "PINECONE_API_KEY": SANDBOX_PINECONE_KEY},
        control=sim.control,
    )
