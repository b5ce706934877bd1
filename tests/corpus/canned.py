"""One canned response as a value, and how it is posted to the sandbox (``POST /_control/canned``)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BASE_URL_MARK", "Canned", "as_json", "ok"]

# Written into a canned body where the API's own base URL belongs (Tempo's ``metadata.next``); the runner
# replaces it with the sandbox mount's URL before posting.
BASE_URL_MARK = b"@@BASE_URL@@"


@dataclass(frozen=True)
class Canned:
    """A raw response for the next ``times`` requests matching ``path_contains`` (+ ``query``, ``body_contains``).

    ``listing=True`` pins it to the bad partition's listing requests (the source adds the match: Jira the JQL
    lower bound in the body, Tempo the ``updatedFrom`` parameter); ``False`` matches on the given fields only.
    """

    path_contains: str
    body: bytes
    status: int = 200
    content_type: str = "application/json"
    times: int = 1
    query: dict[str, str] = field(default_factory=dict)
    body_contains: str | None = None
    listing: bool = True

    def control_body(self, api: str, base_url: str, pin: dict[str, Any]) -> dict[str, Any]:
        body = self.body.replace(BASE_URL_MARK, base_url.encode())
        spec: dict[str, Any] = {
            "api": api,
            "path_contains": self.path_contains,
            "status": self.status,
            "content_type": self.content_type,
            "body_b64": base64.b64encode(body).decode(),
            "times": self.times,
            "query": dict(self.query),
        }
        if self.body_contains is not None:
            spec["body_contains"] = self.body_contains
        if self.listing:
            spec["query"].update(pin.get("query", {}))
            if "body_contains" in pin:
                spec["body_contains"] = pin["body_contains"]
        return spec


def as_json(value: Any) -> bytes:
    """``value`` as JSON bytes; a lone surrogate becomes a ``\\udXXX`` escape (``ensure_ascii``), as servers send it."""
    return json.dumps(value).encode()


def ok(path_contains: str, value: Any, **kwargs: Any) -> Canned:
    """A 200 JSON response."""
    return Canned(path_contains, as_json(value), **kwargs)
