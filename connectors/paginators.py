"""Paginators: small objects that read the last page and say what the next request is (or None).

A paginator never loops and never sends anything; ``ApiClient.paginate`` (connectors/http.py) is the only page
loop, and it is the one that raises on a repeated request or a page cap. Build a fresh paginator per
listing: they carry state (offsets). Requests are values (``PageRequest``),
hashable, so the loop can spot a repeat.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

__all__ = [
    "CursorPaginator",
    "LinkHeaderPaginator",
    "NextPageTokenPaginator",
    "NextUrlPaginator",
    "OffsetPaginator",
    "PageRequest",
    "Paginator",
    "SinglePagePaginator",
    "dig",
]

ParamsIn = Mapping[str, Any] | Sequence[tuple[str, Any]] | None


def _flatten_params(params: ParamsIn) -> tuple[tuple[str, str], ...]:
    """Params as a sorted tuple of pairs; a list value becomes a repeated parameter."""
    items = params.items() if isinstance(params, Mapping) else (params or ())
    pairs: list[tuple[str, str]] = []
    for name, value in items:
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        pairs.extend((name, _param_str(v)) for v in values)
    return tuple(sorted(pairs))


def _param_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class PageRequest:
    """One page request as a value. ``path`` is relative to the base URL, or a full URL (next links)."""

    method: str = "GET"
    path: str = ""
    params: tuple[tuple[str, str], ...] = ()
    json_body: str | None = None  # canonical JSON text, so two equal bodies compare equal

    @classmethod
    def build(cls, method: str, path: str, params: ParamsIn = None, body: Any = None) -> PageRequest:
        canonical = None if body is None else json.dumps(body, sort_keys=True, separators=(",", ":"))
        return cls(method.upper(), path, _flatten_params(params), canonical)

    def body(self) -> Any:
        return None if self.json_body is None else json.loads(self.json_body)

    def with_params(self, **updates: Any) -> PageRequest:
        kept = [(k, v) for k, v in self.params if k not in updates]
        return PageRequest(self.method, self.path, _flatten_params([*kept, *updates.items()]), self.json_body)

    def with_body(self, **updates: Any) -> PageRequest:
        body = {**(self.body() or {}), **updates}
        return PageRequest.build(self.method, self.path, self.params, body)

    def describe(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params)
        body = f" {self.json_body}" if self.json_body else ""
        return f"{self.method} {self.path}{'?' + query if query else ''}{body}"


class Paginator(Protocol):
    """The whole paginator contract: the first request, then the next one given the last page (or None)."""

    def first_request(self) -> PageRequest: ...

    def next_request(self, response_json: Any, response: httpx.Response) -> PageRequest | None: ...


def dig(data: Any, path: Sequence[str]) -> Any:
    """``data[path[0]][path[1]]…``, or None as soon as a step is missing."""
    for step in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(step)
    return data


class SinglePagePaginator:
    """The null paginator: one request, no next page."""

    def __init__(self, request: PageRequest) -> None:
        self._request = request

    def first_request(self) -> PageRequest:
        return self._request

    def next_request(self, response_json: Any, response: httpx.Response) -> PageRequest | None:
        return None


class NextPageTokenPaginator:
    """Token paging (Jira ``/search/jql``): pass back ``nextPageToken`` until absent or ``isLast``.

    Never stops on a short page: the API may return fewer than ``maxResults`` mid-listing.
    """

    def __init__(
        self,
        request: PageRequest,
        *,
        token_field: str = "nextPageToken",
        token_param: str = "nextPageToken",
        last_field: str | None = "isLast",
    ) -> None:
        self._request = request
        self._token_field = token_field
        self._token_param = token_param
        self._last_field = last_field

    def first_request(self) -> PageRequest:
        return self._request

    def next_request(self, response_json: Any, response: httpx.Response) -> PageRequest | None:
        token = dig(response_json, [self._token_field])
        if not token or (self._last_field and dig(response_json, [self._last_field]) is True):
            return None
        if self._request.json_body is not None:
            return self._request.with_body(**{self._token_param: token})
        return self._request.with_params(**{self._token_param: token})


class OffsetPaginator:
    """Offset paging (Jira ``project/search``, ``issue/{key}/comment``): advance by items returned.

    Stops when a page is empty, ``isLast`` is true, or the offset reaches ``total``. Advancing by the count
    received (not by the requested limit) is right when the server clamps ``maxResults``.
    """

    def __init__(
        self,
        request: PageRequest,
        *,
        items_field: str,
        offset_param: str = "startAt",
        limit_param: str = "maxResults",
        limit: int | None = None,
        total_field: str | None = "total",
        last_field: str | None = "isLast",
    ) -> None:
        self._request = request.with_params(**{offset_param: 0, limit_param: limit})
        self._items_field = items_field
        self._offset_param = offset_param
        self._total_field = total_field
        self._last_field = last_field
        self._offset = 0

    def first_request(self) -> PageRequest:
        return self._request

    def next_request(self, response_json: Any, response: httpx.Response) -> PageRequest | None:
        items = dig(response_json, [self._items_field]) or []
        self._offset += len(items)
        total = dig(response_json, [self._total_field]) if self._total_field else None
        if not items or (self._last_field and dig(response_json, [self._last_field]) is True):
            return None
        if isinstance(total, int) and self._offset >= total:
            return None
        return self._request.with_params(**{self._offset_param: self._offset})


class NextUrlPaginator:
    """Full next-URL paging in the body (Tempo ``metadata.next``): follow the URL until it is absent."""

    def __init__(self, request: PageRequest, *, next_path: Sequence[str] = ("metadata", "next")) -> None:
        self._request = request
        self._next_path = tuple(next_path)

    def first_request(self) -> PageRequest:
        return self._request

    def next_request(self, response_json: Any, response: httpx.Response) -> PageRequest | None:
        url = dig(response_json, self._next_path)
        return PageRequest(self._request.method, url) if url else None


class LinkHeaderPaginator:
    """RFC 8288 ``Link: <…>; rel="next"`` paging (GitHub): follow the next URL until there is none."""

    def __init__(self, request: PageRequest) -> None:
        self._request = request

    def first_request(self) -> PageRequest:
        return self._request

    def next_request(self, response_json: Any, response: httpx.Response) -> PageRequest | None:
        url = response.links.get("next", {}).get("url")
        return PageRequest(self._request.method, url) if url else None


class CursorPaginator:
    """Body cursor paging (Slack ``response_metadata.next_cursor``, Notion ``next_cursor``/``has_more``).

    The cursor goes back as query parameter ``param`` (GET) or as a body field (when the request has a body).
    An empty cursor, or ``has_more`` false when a ``has_more_path`` is given, ends the listing.
    """

    def __init__(
        self,
        request: PageRequest,
        *,
        path_to_cursor: Sequence[str],
        param: str,
        has_more_path: Sequence[str] | None = None,
    ) -> None:
        self._request = request
        self._cursor_path = tuple(path_to_cursor)
        self._param = param
        self._has_more_path = tuple(has_more_path) if has_more_path else None

    def first_request(self) -> PageRequest:
        return self._request

    def next_request(self, response_json: Any, response: httpx.Response) -> PageRequest | None:
        cursor = dig(response_json, self._cursor_path)
        if not cursor or (self._has_more_path and dig(response_json, self._has_more_path) is False):
            return None
        if self._request.json_body is not None:
            return self._request.with_body(**{self._param: cursor})
        return self._request.with_params(**{self._param: cursor})
