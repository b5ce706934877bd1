"""Canned responses: raw bytes served instead of an API's own answer, for bad-input tests.

A test registers what the next matching request(s) to one API get back::

    POST /_control/canned
    {"api": "jira",                          # a mounted API (required)
     "path_contains": "/search/jql",         # substring of the path under the API's prefix (default: any)
     "method": "POST",                       # optional
     "query": {"startAt": "100"},            # optional: each parameter must be present with exactly this value
     "body_contains": "updated >= 178",      # optional: substring of the raw request body (decoded as UTF-8)
     "status": 200,                          # default 200
     "content_type": "application/json",     # default application/json
     "headers": {"Retry-After": "1"},        # optional extra response headers
     "body_b64": "eyJpc3N1ZXMiOiBbXX0=",     # the raw body, base64 (invalid UTF-8 and cut JSON are expressible)
     "body": "{...}",                        # or as text, UTF-8 (a lone surrogate stays invalid UTF-8)
     "times": 1}                             # how many matching requests it answers (default 1)
    → {"id": n, "pending": [...]}

    GET /_control/canned → {"pending": [{"id", "api", "path_contains", "remaining", "served"}, ...]}

Entries are tried in the order they were registered; the first one that matches and has answers left serves the
request and counts one down, so registering page 1 then page 2 of a listing serves them in that order. A request
no entry matches goes to the API as usual. A canned answer is served after the request is counted and before the
fault layer's latency, quota and injected faults. ``POST /_control/reset`` clears every entry.
"""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import Response

__all__ = ["CannedResponse", "CannedResponses"]


@dataclass
class CannedResponse:
    """One registered answer and what it matches."""

    id: int
    api: str
    body: bytes
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    path_contains: str = ""
    method: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    body_contains: str | None = None
    remaining: int = 1
    served: int = 0

    def matches(self, method: str, path: str, query: list[tuple[str, str]], body: bytes) -> bool:
        if self.remaining <= 0 or self.path_contains not in path:
            return False
        if self.method is not None and self.method != method:
            return False
        if any((name, value) not in query for name, value in self.query.items()):
            return False
        return self.body_contains is None or self.body_contains in body.decode("utf-8", "replace")

    def response(self) -> Response:
        return Response(self.body, status_code=self.status, headers=self.headers, media_type=self.content_type)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "api": self.api,
            "path_contains": self.path_contains,
            "remaining": self.remaining,
            "served": self.served,
        }


class CannedResponses:
    """Every registered canned response of one sandbox, thread-safe."""

    def __init__(self, apis: set[str] | None = None) -> None:
        self.apis = apis  # None: accept any api name
        self._entries: list[CannedResponse] = []
        self._next_id = 1
        self._lock = threading.Lock()

    def add(self, spec: dict[str, Any]) -> CannedResponse:
        """Register one entry from its control body; ValueError on a bad body."""
        api = str(spec.get("api") or "")
        if not api or (self.apis is not None and api not in self.apis):
            raise ValueError(f"canned response needs a mounted 'api', got {api!r}")
        if "body_b64" in spec and "body" in spec:
            raise ValueError("give 'body_b64' or 'body', not both")
        try:
            body = base64.b64decode(spec["body_b64"], validate=True) if "body_b64" in spec else None
        except (binascii.Error, TypeError) as exc:
            raise ValueError(f"body_b64 is not base64: {exc}") from None
        if body is None:
            body = str(spec.get("body", "")).encode("utf-8", "surrogatepass")
        times = int(spec.get("times", 1))
        if times < 1:
            raise ValueError("times must be at least 1")
        query = spec.get("query") or {}
        headers = spec.get("headers") or {}
        if not isinstance(query, dict) or not isinstance(headers, dict):
            raise ValueError("'query' and 'headers' must be objects")
        with self._lock:
            entry = CannedResponse(
                id=self._next_id,
                api=api,
                body=body,
                status=int(spec.get("status", 200)),
                content_type=str(spec.get("content_type", "application/json")),
                headers={str(k): str(v) for k, v in headers.items()},
                path_contains=str(spec.get("path_contains", "")),
                method=str(spec["method"]).upper() if spec.get("method") else None,
                query={str(k): str(v) for k, v in query.items()},
                body_contains=None if spec.get("body_contains") is None else str(spec["body_contains"]),
                remaining=times,
            )
            self._next_id += 1
            self._entries.append(entry)
        return entry

    def waiting_for(self, api: str) -> bool:
        """Whether any entry for ``api`` has answers left (cheap: the fault layer asks on every request)."""
        with self._lock:
            return any(e.api == api and e.remaining > 0 for e in self._entries)

    def take(self, api: str, method: str, path: str, query_string: bytes, body: bytes) -> Response | None:
        """The response of the first matching entry (counted down), or None."""
        query = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
        with self._lock:
            for entry in self._entries:
                if entry.api == api and entry.matches(method, path, query, body):
                    entry.remaining -= 1
                    entry.served += 1
                    return entry.response()
        return None

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"pending": [e.describe() for e in self._entries]}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
