"""What every sandbox API module shares: the seed, the scale, a movable clock, request counters, fault settings.

An API module (``sandbox/jira/api.py`` …) exposes ``build(ctx: SandboxContext) -> ApiSpec``. ``sandbox/app.py``
mounts each spec's ASGI app at its prefix, wraps it in the quota/fault layer, and serves the control API.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp

__all__ = ["ApiSpec", "Clock", "SandboxContext"]

# The sandbox's "now" starts here (not wall time) so the same seed gives byte-identical responses.
EPOCH = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A clock tests can move. Starts at a fixed instant for determinism."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._now = instant


@dataclass
class ApiSpec:
    """One simulated API: where it is mounted, its app, and how it says "slow down" or "broken" in its own style."""

    name: str  # "jira", "tempo", "slack", "notion", "github", "fireflies", "openai", "pinecone"
    prefix: str  # mount path, e.g. "/jira"; "" for pinecone (its paths sit at the root)
    app: ASGIApp
    rate_limited: Callable[[float], Response]  # retry_after seconds -> the vendor's 429 (or 403/200) response
    server_error: Callable[[], Response]  # the vendor's 5xx
    requests_per_second: float | None = None  # the documented quota, enforced in realistic/flaky/hostile
    burst: int = 10
    latency_ms: float = 0.0  # typical latency of the real service, applied in realistic and harsher profiles
    env: Callable[[str], dict[str, str]] = lambda base_url: {}  # base URL of the mount -> env vars to export
    control: Callable[[str, dict[str, Any]], Any] | None = None  # corpus mutations: (action, body) -> result


@dataclass
class SandboxContext:
    """State shared by all API modules of one sandbox instance."""

    seed: int = 42
    scale: float = 0.01
    clock: Clock = field(default_factory=Clock)
    counters: Counter[str] = field(default_factory=Counter)  # "jira GET /rest/api/3/search/jql" -> n
    rejections: Counter[str] = field(default_factory=Counter)  # requests refused for breaking a limit
    settings: dict[str, Any] = field(default_factory=dict)  # per-API switches set through the control API
    lock: threading.RLock = field(default_factory=threading.RLock)

    def count(self, api: str, method: str, route: str) -> None:
        with self.lock:
            self.counters[f"{api} {method} {route}"] += 1

    def reject(self, api: str, reason: str) -> None:
        with self.lock:
            self.rejections[f"{api} {reason}"] += 1
