"""Quotas and injected faults: an ASGI layer around every mounted sandbox API (never around ``/_control``).

Profiles (``none`` < ``realistic`` < ``flaky`` < ``hostile``) set per-API *switches*; per-API overrides from
the constructor or ``POST /_control/faults`` win over the profile. The switches of one API are::

    latency_ms           added to every request (realistic: the spec's latency_ms)
    quota                token bucket on (realistic and harsher, or switched on in ``none`` by an override)
    requests_per_second  bucket refill rate (default: spec.requests_per_second)
    burst                bucket size (default: spec.burst)
    rate_429             share of requests answered with the vendor's 429 (flaky: 0.10)
    rate_5xx             share answered with the vendor's 5xx (flaky: 0.05)
    reset                share whose TCP connection is dropped without a response (flaky: 0.02)
    html_200             share answered by an HTML error page with HTTP 200 (hostile: 0.02)
    truncate             share whose JSON body is cut in half (hostile: 0.03)
    slow                 share delayed by ``slow_ms`` before being served (hostile: 0.05, 3000 ms)
    retry_after          seconds announced by injected 429s (default 0.5)
    fault_path           when set, injected faults hit only paths containing this string (e.g. "/search/jql")

Canned responses (sandbox/canned.py, ``POST /_control/canned``) are answered here too, before latency, quota
and faults, and tallied as ``"<api> canned"``.

API modules may keep their own switches in the same ``ctx.settings[api]`` dict (e.g. Pinecone's
``visibility_lag_s``); this layer ignores keys it does not know. Random draws come from one RNG per API seeded
from ``ctx.seed``, so a run with the same seed and the same request order injects the same faults.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
import time
from collections import Counter
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.canned import CannedResponses
from sandbox.context import ApiSpec, SandboxContext

__all__ = ["PROFILES", "FaultLayer", "Faults", "TokenBucket", "profile_switches"]

PROFILES = ("none", "realistic", "flaky", "hostile")

_BASE_SWITCHES: dict[str, Any] = {
    "latency_ms": 0.0,
    "quota": False,
    "requests_per_second": None,
    "burst": None,
    "rate_429": 0.0,
    "rate_5xx": 0.0,
    "reset": 0.0,
    "html_200": 0.0,
    "truncate": 0.0,
    "slow": 0.0,
    "slow_ms": 3000.0,
    "retry_after": 0.5,
    "fault_path": None,
}
# Order matters: one uniform draw is compared against the cumulative shares in this order.
_EXCLUSIVE_FAULTS = ("rate_429", "rate_5xx", "reset", "html_200", "truncate")

_HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    "<center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>"
)


def profile_switches(profile: str, spec: ApiSpec) -> dict[str, Any]:
    """The switches a profile gives one API before overrides."""
    if profile not in PROFILES:
        raise ValueError(f"unknown fault profile {profile!r}; expected one of {', '.join(PROFILES)}")
    switches = dict(_BASE_SWITCHES)
    if profile != "none":
        switches.update(latency_ms=spec.latency_ms, quota=spec.requests_per_second is not None)
    if profile in ("flaky", "hostile"):
        switches.update(rate_429=0.10, rate_5xx=0.05, reset=0.02)
    if profile == "hostile":
        switches.update(html_200=0.02, truncate=0.03, slow=0.05)
    return switches


class TokenBucket:
    """Classic token bucket on real (monotonic) time: quotas are about wall-clock request rates."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = time.monotonic()

    def take(self) -> float:
        """Take one token; return 0.0 on success, else the seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class Faults:
    """One sandbox's fault plan: profile, overrides (kept in ``ctx.settings``), RNGs, buckets, tallies."""

    def __init__(
        self,
        ctx: SandboxContext,
        specs: dict[str, ApiSpec],
        profile: str = "none",
        overrides: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown fault profile {profile!r}")
        self.ctx = ctx
        self.specs = specs
        self._initial_profile = profile
        self._initial_overrides = {api: dict(sw) for api, sw in (overrides or {}).items()}
        self.injected: Counter[str] = Counter()  # "pinecone 429" -> n
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Back to the constructor's profile and overrides, fresh RNGs and full buckets."""
        with self._lock:
            self.profile = self._initial_profile
            self.ctx.settings.clear()
            for api, switches in self._initial_overrides.items():
                self._check_api(api)
                self.ctx.settings[api] = dict(switches)
            self._rngs = {api: random.Random(f"{self.ctx.seed}:{api}") for api in self.specs}
            self._buckets: dict[str, tuple[tuple[float, float], TokenBucket]] = {}
            self.injected.clear()

    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply ``{"profile": ..., "<api>": {switches}}``; overrides merge into ``ctx.settings[api]``."""
        with self._lock:
            if "profile" in body:
                profile = str(body["profile"])
                if profile not in PROFILES:
                    raise ValueError(f"unknown fault profile {profile!r}")
                self.profile = profile
            for api, switches in body.items():
                if api == "profile":
                    continue
                self._check_api(api)
                if not isinstance(switches, dict):
                    raise ValueError(f"switches for {api!r} must be an object")
                self.ctx.settings.setdefault(api, {}).update(switches)
        return self.describe()

    def describe(self) -> dict[str, Any]:
        return {"profile": self.profile, "switches": {api: self.switches(api) for api in self.specs}}

    def switches(self, api: str) -> dict[str, Any]:
        merged = profile_switches(self.profile, self.specs[api])
        merged.update(self.ctx.settings.get(api, {}))
        return merged

    def take_token(self, api: str, switches: dict[str, Any]) -> float:
        """0.0 when the request fits the API's quota, else the seconds to wait."""
        spec = self.specs[api]
        rate = float(switches["requests_per_second"] or spec.requests_per_second or 0)
        burst = float(switches["burst"] or spec.burst)
        if rate <= 0:
            return 0.0
        with self._lock:
            key, bucket = self._buckets.get(api, ((0.0, 0.0), None))
            if bucket is None or key != (rate, burst):
                bucket = TokenBucket(rate, burst)
                self._buckets[api] = ((rate, burst), bucket)
            return bucket.take()

    def draw(self, api: str, switches: dict[str, Any]) -> tuple[str | None, bool]:
        """Pick at most one exclusive fault for this request, and whether to delay it."""
        with self._lock:
            rng = self._rngs[api]
            roll, slow_roll = rng.random(), rng.random()
        fault = None
        threshold = 0.0
        for name in _EXCLUSIVE_FAULTS:
            threshold += float(switches[name] or 0)
            if roll < threshold:
                fault = name
                break
        slow = slow_roll < float(switches["slow"] or 0)
        if fault:
            self.injected[f"{api} {fault}"] += 1
        if slow:
            self.injected[f"{api} slow"] += 1
        return fault, slow

    def _check_api(self, api: str) -> None:
        if api not in self.specs:
            raise ValueError(f"unknown api {api!r}; mounted: {', '.join(sorted(self.specs))}")


class FaultLayer:
    """ASGI middleware around one API: counts the request, then applies latency, quota and injected faults."""

    def __init__(
        self,
        app: ASGIApp,
        spec: ApiSpec,
        ctx: SandboxContext,
        faults: Faults,
        canned: CannedResponses | None = None,
    ) -> None:
        self.app = app
        self.spec = spec
        self.ctx = ctx
        self.faults = faults
        self.canned = canned

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = self.spec.name
        route = scope["path"][len(self.spec.prefix) :] or "/"
        self.ctx.count(api, scope["method"], route)
        if self.canned is not None and self.canned.waiting_for(api):
            body, receive = await _buffered(receive)
            canned = self.canned.take(api, scope["method"], route, scope.get("query_string", b""), body)
            if canned is not None:
                self.faults.injected[f"{api} canned"] += 1
                await canned(scope, receive, send)
                return
        switches = self.faults.switches(api)
        if switches["latency_ms"]:
            await asyncio.sleep(float(switches["latency_ms"]) / 1000)
        if switches["quota"]:
            wait = self.faults.take_token(api, switches)
            if wait > 0:
                self.ctx.reject(api, "quota")
                await self.spec.rate_limited(wait)(scope, receive, send)
                return
        path = scope["path"]
        if switches.get("fault_path") and str(switches["fault_path"]) not in path:
            await self.app(scope, receive, send)
            return
        fault, slow = self.faults.draw(api, switches)
        if slow:
            await asyncio.sleep(float(switches["slow_ms"]) / 1000)
        if fault == "rate_429":
            await self.spec.rate_limited(float(switches["retry_after"]))(scope, receive, send)
        elif fault == "rate_5xx":
            await self.spec.server_error()(scope, receive, send)
        elif fault == "reset":
            await _drop_connection(scope, send)
        elif fault == "html_200":
            await Response(_HTML_ERROR_PAGE, status_code=200, media_type="text/html")(scope, receive, send)
        elif fault == "truncate":
            await self.app(scope, receive, _truncating(send))
        else:
            await self.app(scope, receive, send)


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body; return it and a ``receive`` that replays it to the app."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _truncating(send: Send) -> Send:
    """A ``send`` that holds the response and delivers the first half of its body (Content-Length fixed)."""
    held: list[Message] = []
    chunks: list[bytes] = []

    async def truncating_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            held.append(message)
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        cut = body[: max(1, len(body) // 2)] if body else b""
        start = dict(held[0]) if held else {"type": "http.response.start", "status": 200, "headers": []}
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        start["headers"] = [*headers, (b"content-length", str(len(cut)).encode())]
        await send(start)
        await send({"type": "http.response.body", "body": cut, "more_body": False})

    return truncating_send


async def _drop_connection(scope: Scope, send: Send) -> None:
    """Close the TCP connection with an RST and no response, like a load balancer dropping it.

    Starlette wraps ``send``, so the app stores uvicorn's own ``send`` in the scope (``sandbox.raw_send``);
    its bound ``RequestResponseCycle`` holds the transport. Without uvicorn we fall back to a bare 502.
    """
    raw = scope.get("sandbox.raw_send", send)
    cycle = getattr(raw, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        await send({"type": "http.response.start", "status": 502, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER 0: close() sends RST instead of FIN, so the client sees "connection reset by peer".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Let uvicorn's connection_lost run: it marks the cycle disconnected, so no "missing response" error.
    for _ in range(3):
        await asyncio.sleep(0)
