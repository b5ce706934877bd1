"""The sandbox ASGI app: each API mounted at its prefix, wrapped in the fault layer; plus ``/_control``.

API modules are imported by name from ``API_MODULES``; a module that does not exist yet is skipped, any other
import error is raised. Each exposes ``build(ctx) -> ApiSpec``. Prefixed APIs are mounted first and Pinecone
(prefix ``""``, paths at the root) last, so it only sees what no other prefix claimed.

Counting scheme: the fault layer counts every request that reaches an API (including ones it then rejects or
breaks) into ``ctx.counters`` as ``"<api> <METHOD> <raw path, without the prefix and the query>"``, e.g.
``"pinecone POST /vectors/upsert"`` or ``"jira GET /rest/api/3/issue/ACME-1"``. API modules should not count
again. Requests refused for breaking a limit are tallied by the modules via ``ctx.reject(api, reason)``; quota
429s by the fault layer as ``"<api> quota"``.

Control API (never subject to faults, never counted):

- ``GET  /_control/counters`` → ``{"counters", "rejections", "faults", "now"}``
- ``POST /_control/reset`` → zero the counters, restore the clock, the profile and overrides, drop canned
  responses, and call each spec's ``control("reset", {})``
- ``POST /_control/clock`` ``{"advance_seconds": n}`` or ``{"set": "<iso>"}`` → ``{"now"}``
- ``GET|POST /_control/faults`` ``{"profile": "...", "<api>": {switches}}`` → the effective switches
- ``GET|POST /_control/canned`` ``{"api", "path_contains", "query", "body_contains", "status", "content_type",
  "body_b64" | "body", "times"}`` → serve that raw response instead of the API's for the next ``times`` matching
  requests (sandbox/canned.py); GET lists the entries with their remaining and served counts
- ``POST /_control/<api>/<action>`` body → ``spec.control(action, body)`` (404 when the API has no control)
"""

from __future__ import annotations

import importlib
import json
from datetime import datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from sandbox.canned import CannedResponses
from sandbox.context import ApiSpec, SandboxContext
from sandbox.faults import FaultLayer, Faults

__all__ = ["API_MODULES", "SandboxApp", "build_app", "load_specs"]

API_MODULES = [
    "openai.api",
    "pinecone.api",
    "jira.api",
    "tempo.api",
    "fireflies.api",
    "slack.api",
    "notion.api",
    "github.api",
]


class SandboxApp(Starlette):
    """Starlette, plus the server's raw ``send`` kept in the scope so faults can drop a connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["sandbox.raw_send"] = send
        await super().__call__(scope, receive, send)


def load_specs(ctx: SandboxContext) -> dict[str, ApiSpec]:
    """Build every API module that exists, keyed by spec name."""
    specs: dict[str, ApiSpec] = {}
    for name in API_MODULES:
        module_name = f"sandbox.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # not written yet: skip; a missing dependency inside it must surface
                continue
            raise
        spec = module.build(ctx)
        specs[spec.name] = spec
    return specs


def build_app(
    ctx: SandboxContext, profile: str = "none", overrides: dict[str, dict[str, Any]] | None = None
) -> SandboxApp:
    """The whole sandbox as one ASGI app. ``app.state`` holds ``ctx``, ``specs``, ``faults`` and ``canned``."""
    specs = load_specs(ctx)
    faults = Faults(ctx, specs, profile=profile, overrides=overrides)
    canned = CannedResponses(set(specs))
    start = ctx.clock.now()
    routes: list[BaseRoute] = [*_control_routes(ctx, specs, faults, start, canned), _canned_route(canned)]
    ordered = sorted(specs.values(), key=lambda spec: spec.prefix == "")  # root mount last
    for spec in ordered:
        routes.append(Mount(spec.prefix, app=FaultLayer(spec.app, spec, ctx, faults, canned), name=spec.name))
    app = SandboxApp(routes=routes)
    app.state.ctx = ctx
    app.state.specs = specs
    app.state.faults = faults
    app.state.canned = canned
    return app


def _canned_route(canned: CannedResponses) -> BaseRoute:
    async def canned_responses(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                entry = canned.add(await _json_body(request))
            except (ValueError, TypeError) as exc:
                return _bad(f"canned: {exc}")
            return JSONResponse({"id": entry.id, **canned.describe()})
        return JSONResponse(canned.describe())

    return Route("/_control/canned", canned_responses, methods=["GET", "POST"])


def _control_routes(
    ctx: SandboxContext, specs: dict[str, ApiSpec], faults: Faults, start: datetime, canned: CannedResponses
) -> list[BaseRoute]:
    async def counters(request: Request) -> JSONResponse:
        with ctx.lock:
            body = {
                "counters": dict(ctx.counters),
                "rejections": dict(ctx.rejections),
                "faults": dict(faults.injected),
                "now": ctx.clock.now().isoformat(),
            }
        return JSONResponse(body)

    async def reset(request: Request) -> JSONResponse:
        with ctx.lock:
            ctx.counters.clear()
            ctx.rejections.clear()
        ctx.clock.set(start)
        faults.reset()
        canned.clear()
        for spec in specs.values():
            if spec.control is not None:
                spec.control("reset", {})
        return JSONResponse({"ok": True})

    async def clock(request: Request) -> JSONResponse:
        body = await _json_body(request)
        if "advance_seconds" in body:
            ctx.clock.advance(timedelta(seconds=float(body["advance_seconds"])))
        elif "set" in body:
            ctx.clock.set(datetime.fromisoformat(str(body["set"]).replace("Z", "+00:00")))
        else:
            return _bad("expected {'advance_seconds': n} or {'set': iso}")
        return JSONResponse({"now": ctx.clock.now().isoformat()})

    async def fault_settings(request: Request) -> JSONResponse:
        if request.method == "GET":
            return JSONResponse(faults.describe())
        try:
            return JSONResponse(faults.configure(await _json_body(request)))
        except ValueError as exc:
            return _bad(str(exc))

    async def api_action(request: Request) -> JSONResponse:
        api, action = request.path_params["api"], request.path_params["action"]
        spec = specs.get(api)
        if spec is None or spec.control is None:
            return JSONResponse({"error": f"no control for api {api!r}"}, status_code=404)
        try:
            result = spec.control(action, await _json_body(request))
        except (ValueError, KeyError, TypeError) as exc:
            return _bad(f"{api}/{action}: {exc}")
        return JSONResponse(result if result is not None else {"ok": True})

    return [
        Route("/_control/counters", counters, methods=["GET"]),
        Route("/_control/reset", reset, methods=["POST"]),
        Route("/_control/clock", clock, methods=["POST"]),
        Route("/_control/faults", fault_settings, methods=["GET", "POST"]),
        Route("/_control/{api}/{action}", api_action, methods=["POST"]),
    ]


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("control body must be a JSON object")
    return body


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)
