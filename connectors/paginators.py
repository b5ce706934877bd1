"""Paginators: small objects that read the last page and say what the next request is (or None).

A paginator never loops and never sends anything; ``ApiClient.paginate`` (connectors/http.py) is the only page
loop, and it is the one that raises on a repeated request or a page cap. Build a fresh paginator per
listing: they carry state (offsets). Requests are values (``PageRequest``),
hashable, so the loop can spot a repeat.

A page that contradicts itself (``isLast: false`` without a ``nextPageToken``; an empty page before the offset
reaches ``total``) is not the end of a listing: the paginator raises ``PaginationError`` instead of returning None,
because ending there would silently drop the rest. A paginator does not know where it runs, so the connector gives
it a ``Listing`` (source, endpoint, partition) that the error names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from connectors.errors import PaginationError

__all__ = [
    "CursorPaginator",
    "LinkHeaderPaginator",
    "Listing",
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


@dataclass(frozen=True, slots=True)
class Listing:
    """Where a listing runs, so a paginator's ``PaginationError`` names the source, endpoint and partition."""

    source: str = ""
    endpoint: str = ""
    partition: str | None = None

    def error(self, problem: str) -> PaginationError:
        where = " ".join(p for p in (self.source.capitalize(), self.endpoint) if p) or "listing"
        part = f" [partition {self.partition}]" if self.partition else ""
        return PaginationError(
            f"{where}: {problem}{part}", source=self.source, endpoint=self.endpoint, partition=self.partition
        )


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

    Never stops on a short page: the API may return fewer than ``maxResults`` mid-listing. ``isLast: true`` ends
    the listing; no token ends it only when the page does not say ``isLast: false`` (that page contradicts itself,
    so it raises ``PaginationError`` rather than dropping every later page).
    """

    def __init__(
        self,
        request: PageRequest,
        *,
        token_field: str = "nextPageToken",
        token_param: str = "nextPageToken",
        last_field: str | None = "isLast",
        where: Listing | None = None,
    ) -> None:
        self._request = request
        self._token_field = token_field
        self._token_param = token_param
        self._last_field = last_field
        self._where = where or Listing()
        self._pages = 0

    def first_request(self) -> PageRequest:
        return self._request

    def next_request(self, response_json: Any, response: httpx.Response) -> PageRequest | None:
        self._pages += 1
        token = dig(response_json, [self._token_field])
        is_last = dig(response_json, [self._last_field]) if self._last_field else None
        if is_last is True:
            return None
        if not token:
            if is_last is False:
                raise self._where.error(
                    f"page {self._pages} says {self._last_field}: false but has no {self._token_field}; "
                    "the rest of the listing cannot be fetched"
                )
            return None
        if self._request.json_body is not None:
            return self._request.with_body(**{self._token_param: token})
        return self._request.with_params(**{self._token_param: token})


class OffsetPaginator:
    """Offset paging (Jira ``project/search``, ``issue/{key}/comment``): advance by items returned.

    Stops when ``isLast`` is true, the offset reaches ``total``, or a page is empty. Advancing by the count
    received (not by the requested limit) is right when the server clamps ``maxResults``. An empty page while the
    offset is still short of ``total`` (or while the page says ``isLast: false``) contradicts itself: it raises
    ``PaginationError`` instead of ending with part of the listing.
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
        where: Listing | None = None,
    ) -> None:
        self._request = request.with_params(**{offset_param: 0, limit_param: limit})
        self._items_field = items_field
        self._offset_param = offset_param
        self._total_field = total_field
        self._last_field = last_field
        self._where = where or Listing()
        self._offset = 0

    def first_request(self) -> PageRequest:
        return self._request

    def next_request(self, response_json: Any, response: httpx.Response) -> PageRequest | None:
        items = dig(response_json, [self._items_field]) or []
        self._offset += len(items)
        total = dig(response_json, [self._total_field]) if self._total_field else None
        is_last = dig(response_json, [self._last_field]) if self._last_field else None
        if is_last is True:
            return None
        short = isinstance(total, int) and not isinstance(total, bool) and self._offset < total
        if not items:
            if short or is_last is False:
                said = f"a total of {total}" if short else f"{self._last_field}: false"
                raise self._where.error(
                    f"empty page at {self._offset_param}={self._offset} although the listing said {said}; "
                    "the rest of the listing cannot be fetched"
                )
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
