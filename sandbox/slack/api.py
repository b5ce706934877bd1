"""Slack Web API simulator, mounted at ``/slack`` (``SLACK_API_URL=<base>/slack/api``).

Faithful to Slack's Web API (spec: ``tests/specs/slack/``): errors are HTTP 200 with ``ok:false``; cursor
pagination with ``response_metadata.next_cursor`` empty on the last page; ``conversations.history`` returns
top-level messages only (newest first, thread parents carry ``reply_count``/``latest_reply``); per-method tier
quotas answered with 429 + ``Retry-After`` + ``error:"ratelimited"``. Tiers are enforced whenever the fault
layer's ``quota`` switch is on for ``slack``; ``ctx.settings["slack"]["non_marketplace"] = True`` applies the
2025 limit on history/replies (1 request/min, at most 15 messages a page); ``tier1_period_s`` there shortens
that minute for tests.
"""

from __future__ import annotations

import math
import threading
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from sandbox.context import ApiSpec, SandboxContext
from sandbox.faults import TokenBucket
from sandbox.jira.corpus import issue_keys
from sandbox.slack.corpus import SlackCorpus
from sandbox.slack.methods import METHODS, SlackError, SlackState

__all__ = ["SLACK_BOT_TOKEN", "TIER_PER_MINUTE", "build"]

SLACK_BOT_TOKEN = "xoxb-sandbox-0000000000-backfill"
# Requests per minute per method ("per API method per workspace per app").
# Tier 2: 20, Tier 3: 50, Tier 4: 100, Special: hundreds.
TIER_PER_MINUTE: dict[str, int] = {
    "auth.test": 600,
    "conversations.list": 20,
    "conversations.history": 50,
    "conversations.replies": 50,
    "conversations.join": 50,
    "conversations.info": 50,
    "conversations.members": 100,
    "users.info": 100,
    "users.list": 20,
    "chat.getPermalink": 600,
}
_NON_MARKETPLACE = {"conversations.history", "conversations.replies"}  # Tier 1: 1 request per minute
_JSON_METHODS = {"conversations.join"}  # Slack reads JSON bodies only for write methods


def _slack_json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def rate_limited(retry_after: float) -> Response:
    """Slack's 429: integer ``Retry-After`` and the ``ratelimited`` error."""
    seconds = max(1, math.ceil(retry_after))
    return _slack_json({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": str(seconds)})


def server_error() -> Response:
    return _slack_json({"ok": False, "error": "internal_error"}, 500)


class SlackSim:
    """Request handling: auth, argument parsing, per-method quotas, dispatch to ``slack_methods``."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.lock = threading.RLock()
        self.state = self._fresh_state()
        self.auth_fail = False
        self.buckets: dict[str, TokenBucket] = {}

    def _fresh_state(self) -> SlackState:
        return SlackState(
            SlackCorpus(self.ctx.seed, self.ctx.scale, self.ctx.clock.now(), issue_keys(self.ctx.seed, self.ctx.scale))
        )

    def settings(self) -> dict[str, Any]:
        return self.ctx.settings.get("slack", {})

    async def handle(self, request: Request) -> Response:
        method = request.path_params["method"]
        if method not in METHODS:
            return _slack_json({"ok": False, "error": "unknown_method", "req_method": method}, 404)
        args = await _read_args(request, method)
        token = _bearer(request) or args.get("token")
        if not token:
            return _slack_json({"ok": False, "error": "not_authed"})
        # The sandbox token, or any token that extends it (tests use marker tokens to prove secrets never leak).
        if not token.startswith(SLACK_BOT_TOKEN) or self.auth_fail:
            return _slack_json({"ok": False, "error": "invalid_auth"})
        non_marketplace = bool(self.settings().get("non_marketplace"))
        if request.scope.get("slack.quota"):
            wait = self._take(method, non_marketplace)
            if wait > 0:
                self.ctx.reject("slack", f"tier {method}")
                return rate_limited(wait)
        try:
            with self.lock:
                body = METHODS[method](self.state, args, self.ctx.clock.now(), non_marketplace)
        except SlackError as exc:
            return _slack_json({"ok": False, "error": exc.code, **exc.extra})
        return _slack_json({"ok": True, **body})

    def _take(self, method: str, non_marketplace: bool) -> float:
        if non_marketplace and method in _NON_MARKETPLACE:
            # Tier 1: one request a minute. ``tier1_period_s`` compresses the minute for tests.
            period = float(self.settings().get("tier1_period_s") or 60.0)
            key, rate, burst = f"{method}:tier1:{period}", 1.0 / period, 1.0
        else:
            per_minute = TIER_PER_MINUTE[method]
            key, rate, burst = f"{method}:{per_minute}", per_minute / 60.0, float(per_minute)
        with self.lock:
            bucket = self.buckets.get(key)
            if bucket is None:
                bucket = self.buckets[key] = TokenBucket(rate, burst)
            return bucket.take()

    # ---- control -----------------------------------------------------------------------------------------
    def control(self, action: str, body: dict[str, Any]) -> Any:
        with self.lock:
            if action == "reset":
                self.state = self._fresh_state()
                self.auth_fail = False
                self.buckets.clear()
                return {"reset": True}
            if action == "auth":
                self.auth_fail = bool(body.get("fail", True))
                return {"auth_fail": self.auth_fail}
            now = self.ctx.clock.now()
            if action == "post_message":
                return self.state.post_message(
                    now, body.get("channel"), body.get("text"), body.get("user"), float(body.get("days_ago") or 0)
                )
            if action == "late_reply":
                return self.state.late_reply(now, body.get("channel"), body.get("thread_ts"), body.get("text"))
            if action == "delete_message":
                return self.state.delete_message(body.get("channel"), body.get("ts"))
            if action == "edit_message":
                return self.state.edit_message(now, body.get("channel"), body.get("ts"), body.get("text"))
        raise ValueError(f"unknown slack action {action!r}")


class _QuotaProbe:
    """Reads the fault layer's ``quota`` switch for ``slack`` (profile + overrides) into the request scope.

    The core keeps the effective switches on ``app.state.faults`` of the outer sandbox app; outside the core
    (a bare uvicorn) the switch comes from ``ctx.settings["slack"]["quota"]``.
    """

    def __init__(self, app: Starlette, ctx: SandboxContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults = getattr(getattr(scope.get("app"), "state", None), "faults", None)
        if faults is not None:
            scope["slack.quota"] = bool(faults.switches("slack")["quota"])
        else:
            scope["slack.quota"] = bool(self.ctx.settings.get("slack", {}).get("quota"))
        await self.app(scope, receive, send)


async def _read_args(request: Request, method: str) -> dict[str, str]:
    args = dict(request.query_params)
    if request.method != "POST":
        return args
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        if method in _JSON_METHODS:
            try:
                payload = await request.json()
            except ValueError:
                payload = {}
            if isinstance(payload, dict):
                args.update({k: str(v) for k, v in payload.items() if k != "token"})
        return args
    # Form bodies parsed by hand: python-multipart is not a dependency, and Slack clients send urlencoded forms.
    body = (await request.body()).decode("utf-8", errors="replace")
    args.update(dict(parse_qsl(body, keep_blank_values=True)))
    return args


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def build(ctx: SandboxContext) -> ApiSpec:
    sim = SlackSim(ctx)
    app = Starlette(routes=[Route("/api/{method}", sim.handle, methods=["GET", "POST"])])
    return ApiSpec(
        name="slack",
        prefix="/slack",
        app=_QuotaProbe(app, ctx),
        rate_limited=rate_limited,
        server_error=server_error,
        # Slack has no app-wide quota besides the tiers; this generous cap only switches quotas on in the
        # realistic profile (the tiers above are what really limits a client).
        requests_per_second=20.0,
        burst=100,
        latency_ms=120.0,
        env=lambda base: {"SLACK_API_URL": f"{base}/api", "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN},
        control=sim.control,
    )
