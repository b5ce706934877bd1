"""Jira Cloud v3 → Documents.

Partitions are (the selected projects) × UTC half-year of ``updated``: one JQL covers every project, so
the request count stays within a few pages of the minimum the page size allows (72 projects × 24 months
of near-empty partitions would cost ~1,700 searches for 76 pages of data).

Issues come from ``POST /rest/api/3/search/jql`` following ``nextPageToken`` (the endpoint ignores
``startAt``; sending it is how the predecessor fetched 24,685 items and 51 unique ones). Window bounds are
**epoch milliseconds**: a formatted date would be read in the searching account's time zone and silently skip
or repeat issues. Every comment is fetched, paging ``/issue/{id}/comment`` when the embedded list is short of
its total. A listing whose pages contradict themselves (``isLast: false`` with no token, an empty comment page
before ``total``, fewer unique comments than ``total``) raises ``PaginationError``: the partition fails whole.

Restricted comments (role/group ``visibility``, JSM internal notes) stay out of documents unless the connector is
built with ``include_restricted_comments=True``; every document carries an ``acl`` (see connectors/jira_mapping.py,
which also defines the failure ids). Failures are fetched again by ``refetch_partitions`` (≤ 500 ids or keys a
partition), which ``fetch`` reads through ``issue/bulkfetch``, not JQL: JQL naming a deleted issue is a 400, while
bulkfetch just leaves it out. ``existing_ids`` says which failed ids Jira still has.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.auth import BasicAuth
from connectors.base import MAPPING_ERRORS, FetchFailure, Partition, Window, floor_minute, parse_timestamp, slice_bounds
from connectors.errors import ConnectorError, MalformedResponseError
from connectors.http import ApiClient, RetryPolicy, make_client
from connectors.jira_mapping import (
    can_look_up,
    failure_id,
    is_restricted,
    issue_id,
    issue_to_document,
    lookup_ids,
    project_clause,
    security_level,
    window_jql,
)
from connectors.paginators import Listing, NextPageTokenPaginator, OffsetPaginator, PageRequest
from core.settings import Settings, require
from ingest.document import Document

# The pure parts live in connectors/jira_mapping.py; re-exported here, the source's front door.
__all__ = [
    "JIRA_FIELDS",
    "IssueRef",
    "JiraConfig",
    "JiraConnector",
    "ProjectNotFoundError",
    "failure_id",
    "is_restricted",
    "issue_to_document",
    "window_jql",
]

SEARCH_PATH = "/rest/api/3/search/jql"
JIRA_FIELDS = [
    "summary", "description", "status", "issuetype", "priority", "assignee", "reporter",
    "created", "updated", "project", "labels", "comment", "security",
]  # fmt: skip
SEARCH_PAGE_SIZE = 100  # the endpoint's effective cap with ordinary fields (5000 only for id/key listings)
ID_PAGE_SIZE = 5000
COMMENT_PAGE_SIZE = 100
PROJECT_PAGE_SIZE = 100  # project/search clamps larger values to 100
PROJECT_KEYS_PER_CALL = 50  # project/search accepts at most 50 keys
BULKFETCH_MAX_IDS = 100  # issue/bulkfetch answers 400 above 100
REFETCH_MAX_IDS = 500  # failed ids per refetch partition: a long failure list never makes one unbounded request
DEFAULT_RATE_PER_S = 10.0  # API-token traffic is only burst-limited; stay well under it
MAX_SEARCH_PAGES = 5_000  # 500k issues in one project-month would be a bug, not data


class ProjectNotFoundError(ConnectorError):
    """A requested project key does not exist, is archived, or the token cannot see it."""


RETRY_SCOPE = "retry:"  # scope of a partition that re-fetches earlier failures by id or key
FAILED_SINCE = datetime(2000, 1, 1, tzinfo=UTC)  # a retry partition is not bounded by time
SLICE_MONTHS = 6  # partition width: small enough to resume usefully, large enough to keep pages full


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class IssueRef(NamedTuple):
    """A Jira issue as other sources' documents refer to it."""

    key: str
    summary: str
    security: str  # the security level's name, "" when the issue has none


class JiraConfig(BaseModel):
    """What the Jira connector needs, typed. The registry builds it from settings (``from_settings``); nothing in
    the connector reads the global settings."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    url: str
    email: str
    api_token: SecretStr
    rate_per_s: float | None = DEFAULT_RATE_PER_S  # None: no client-side pacing (tests against a local sandbox)
    # Off by default: role/group-restricted comments and JSM internal notes never enter a shared document.
    include_restricted_comments: bool = False
    retry: RetryPolicy = Field(default_factory=RetryPolicy)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> JiraConfig:
        """JIRA_URL, JIRA_EMAIL, JIRA_API_TOKEN, JIRA_RATE_PER_S, JIRA_INCLUDE_RESTRICTED_COMMENTS and the HTTP
        retry budget; fails naming every missing variable."""
        require(settings, "jira_url", "jira_email", "jira_api_token")
        values: dict[str, Any] = {
            "url": str(settings.jira_url).rstrip("/"),
            "email": settings.jira_email,
            "api_token": settings.jira_api_token,
            "rate_per_s": settings.jira_rate_per_s,
            "include_restricted_comments": settings.jira_include_restricted_comments,
            "retry": RetryPolicy.from_settings(settings),
        }
        return cls(**{**values, **overrides})


class JiraConnector:
    """The Jira connector: ``partitions``, ``fetch``, ``check``, ``list_ids``, + ``bulkfetch_keys``."""

    source = "jira"
    display = "Jira"

    def __init__(
        self,
        config: JiraConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        page_size: int = SEARCH_PAGE_SIZE,
    ) -> None:
        """``transport``, ``retry`` and ``page_size`` are test seams; everything else comes from ``config``."""
        self.page_size = page_size  # the server may return fewer; paging never relies on full pages
        self.include_restricted_comments = config.include_restricted_comments
        self.base_url = config.url
        auth = BasicAuth(config.email, config.api_token, setting="JIRA_API_TOKEN")
        self.client: ApiClient = make_client(
            "jira", self.base_url, auth, rate_per_s=config.rate_per_s, transport=transport,
            retry=retry or config.retry, display=self.display,
        )  # fmt: skip

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> JiraConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the connector shape ---------------------------------------------------------------------------

    def check(self) -> None:
        """One authenticated call; AuthError ("Jira rejected JIRA_API_TOKEN for …") if bad."""
        self.client.get_json("GET", "/rest/api/3/myself", endpoint_label="GET /rest/api/3/myself")

    def partitions(
        self, window: Window, *, projects: Iterable[str] | None = None, active_only: bool = True
    ) -> list[Partition]:
        """(selected projects) × half-year slices of the window; the start is pulled forward to the oldest issue."""
        keys = [p["key"] for p in self.projects(projects, active_only=active_only)]
        if not keys:
            return []
        start = floor_minute(window.start)
        if window.end - start > timedelta(days=183):
            oldest = self._oldest_updated(keys, window)
            if oldest is None:
                return []
            start = max(start, floor_minute(oldest))
        scope = ",".join(keys)
        return [
            Partition(source=self.source, scope=scope, start=lo, end=hi)
            for lo, hi in slice_bounds(Window(start=start, end=window.end), SLICE_MONTHS)
        ]

    def _oldest_updated(self, keys: list[str], window: Window) -> datetime | None:
        """One cheap search for the least recently updated issue, so a "full" window starts where data does."""
        body = {
            "jql": window_jql(keys, floor_minute(window.start), window.end),
            "fields": ["updated"],
            "maxResults": 1,
        }
        data = self.client.get_json("POST", SEARCH_PATH, json=body, endpoint_label=f"POST {SEARCH_PATH} (oldest)")
        issues = self._list_of(data, "issues", f"POST {SEARCH_PATH}", None)
        if not issues:
            return None
        try:
            return parse_timestamp(str(issues[0]["fields"]["updated"]))
        except (KeyError, TypeError, ValueError):
            return window.start  # an unreadable probe only costs the shortcut: read the whole window

    def refetch_partitions(self, doc_ids: Sequence[str], since: datetime | None, window: Window) -> list[Partition]:
        """Partitions (≤ 500 ids or keys each) re-reading issues that failed in earlier runs, whatever their window.

        Jira reads them by id, so ``since`` is not needed. ``fetch`` reads these partitions through bulkfetch, which
        leaves out deleted issues: an asked id that neither comes back nor fails again is gone at the source. Ids
        that name no issue (``jira:unidentified-…``) cannot be looked up and are left out.
        """
        return [
            Partition(source=self.source, scope=RETRY_SCOPE + ",".join(chunk), start=FAILED_SINCE, end=window.end)
            for chunk in _chunks(lookup_ids(doc_ids), REFETCH_MAX_IDS)
        ]

    def existing_ids(self, doc_ids: Iterable[str]) -> set[str]:
        """Which of ``doc_ids`` (``jira:<id>`` or ``jira:<KEY>``) Jira still has, via bulkfetch (≤ 100 a call).

        Bulkfetch leaves out issues that were deleted or are no longer visible to the token (JQL naming them would
        be a 400). Ids that cannot be looked up (``jira:unidentified-…``, another source's) are not in the result.
        """
        wanted: dict[str, list[str]] = {}
        for doc_id in dict.fromkeys(doc_ids):
            native = doc_id.removeprefix("jira:").upper() if doc_id.startswith("jira:") else ""
            if can_look_up(native):
                wanted.setdefault(native, []).append(doc_id)
        found: set[str] = set()
        for issue in self._bulkfetch(lookup_ids(f"jira:{n}" for n in wanted), ["key"], None):
            for native in (str(issue.get("id")), str(issue.get("key") or "").upper()):
                found.update(wanted.get(native, ()))
        return found

    def fetch(self, partition: Partition) -> Iterator[Document | FetchFailure]:
        """Every issue of the project updated in ``[start, end)``, lazily, each with all its comments."""
        if partition.scope.startswith(RETRY_SCOPE):
            natives = [i for i in partition.scope.removeprefix(RETRY_SCOPE).split(",") if can_look_up(i)]
            for raw in self._bulkfetch(natives, JIRA_FIELDS, partition):
                yield self._issue_or_failure(raw, partition)
            return
        body = {
            "jql": window_jql(partition.scope.split(","), partition.start, partition.end),
            "fields": JIRA_FIELDS,
            "maxResults": self.page_size,
        }
        where = self._listing(f"POST {SEARCH_PATH}", partition)
        pager = NextPageTokenPaginator(PageRequest.build("POST", SEARCH_PATH, body=body), where=where)
        pages = self.client.paginate(
            pager, endpoint_label=f"POST {SEARCH_PATH}", partition=partition, max_pages=MAX_SEARCH_PAGES
        )
        for page in pages:
            for raw in self._list_of(page.data, "issues", f"POST {SEARCH_PATH}", partition):
                yield self._issue_or_failure(raw, partition)

    def list_ids(self, scope: str) -> Iterator[str]:
        """Every issue id of the projects in ``scope`` (comma-separated keys; ids only, 5000 a page)."""
        body = {
            "jql": f"{project_clause(scope.split(','))} ORDER BY key ASC",
            "fields": ["id"],
            "maxResults": ID_PAGE_SIZE,
        }
        where = self._listing(f"POST {SEARCH_PATH} (ids)", scope)
        pager = NextPageTokenPaginator(PageRequest.build("POST", SEARCH_PATH, body=body), where=where)
        for page in self.client.paginate(pager, endpoint_label=f"POST {SEARCH_PATH} (ids)", partition=scope):
            for raw in self._list_of(page.data, "issues", f"POST {SEARCH_PATH}", scope):
                yield f"jira:{raw['id']}"

    # -- projects --------------------------------------------------------------------------------------

    def projects(self, keys: Iterable[str] | None = None, *, active_only: bool = True) -> list[dict[str, Any]]:
        """Projects visible to the token, optionally only ``keys``; ``active_only`` skips archived."""
        wanted = sorted({k.strip() for k in keys or [] if k.strip()})
        status = ["live"] if active_only else ["live", "archived"]
        found: dict[str, dict[str, Any]] = {}
        for key_chunk in _chunks(wanted, PROJECT_KEYS_PER_CALL) if wanted else [None]:
            params = {"orderBy": "key", "status": status, "keys": key_chunk}
            pager = OffsetPaginator(
                PageRequest.build("GET", "/rest/api/3/project/search", params),
                items_field="values",
                limit=PROJECT_PAGE_SIZE,
                where=self._listing("GET /rest/api/3/project/search", None),
            )
            # 404 is this endpoint's way of saying "no project matches".
            pages = self.client.paginate(pager, endpoint_label="GET /rest/api/3/project/search", empty_on={404})
            for page in pages:
                for project in self._list_of(page.data, "values", "GET /rest/api/3/project/search", None):
                    if not (active_only and project.get("archived")):
                        found[project["key"]] = project
        missing = [k for k in wanted if k not in found]
        if missing:
            # A typo in a project filter must not look like "no issues": fail, naming the keys.
            raise ProjectNotFoundError(
                "Jira projects not found, archived or not visible to the JIRA_API_TOKEN: " + ", ".join(missing),
                source=self.source,
                endpoint="GET /rest/api/3/project/search",
            )
        return [found[k] for k in sorted(found)]

    # -- issues and comments ---------------------------------------------------------------------------

    def _issue_or_failure(self, raw: Any, partition: Partition) -> Document | FetchFailure:
        # A PaginationError (comments that contradict their total) is not caught: the partition fails whole.
        try:
            comments = self._all_comments(raw, partition)
            return issue_to_document(raw, comments, self.base_url, include_restricted=self.include_restricted_comments)
        except MalformedResponseError as exc:  # this issue's comments are unreadable; other issues go on
            return FetchFailure(id=failure_id(raw), reason=str(exc)[:1000])
        except MAPPING_ERRORS as exc:
            return FetchFailure(id=failure_id(raw), reason=f"unmappable issue: {type(exc).__name__}: {exc}"[:1000])

    def _all_comments(self, raw: Mapping[str, Any], partition: Partition) -> list[Mapping[str, Any]]:
        embedded = raw["fields"].get("comment")
        if isinstance(embedded, Mapping):
            comments = list(embedded.get("comments") or [])
            total = embedded.get("total")
            if not isinstance(total, int) or total <= len(comments):
                return comments
        return list(self.issue_comments(issue_id(raw), partition=partition))  # a non-numeric id fails here

    def issue_comments(self, issue_id: str, *, partition: Partition | None = None) -> Iterator[Mapping[str, Any]]:
        """Every comment of one issue, oldest first, deduplicated by id.

        Raises PaginationError when the listing ends with fewer unique comments than its ``total``.
        """
        path = f"/rest/api/3/issue/{quote(issue_id, safe='')}/comment"  # "1/../2" must not reach another issue
        where = self._listing(f"GET {path}", partition)
        pager = OffsetPaginator(
            PageRequest.build("GET", path, {"orderBy": "created"}),
            items_field="comments",
            limit=COMMENT_PAGE_SIZE,
            last_field=None,
            where=where,
        )
        seen: set[str] = set()
        total: object = None
        label = "GET /rest/api/3/issue/{id}/comment"
        for page in self.client.paginate(pager, endpoint_label=label, partition=partition):
            total = page.data.get("total")
            for comment in self._list_of(page.data, "comments", label, partition):
                if str(comment.get("id")) not in seen:
                    seen.add(str(comment.get("id")))
                    yield comment
        if isinstance(total, int) and len(seen) < total:
            raise where.error(f"the listing ended with {len(seen)} unique comments of a total of {total}")

    def bulkfetch_keys(self, ids: Iterable[str | int]) -> dict[str, tuple[str, str]]:
        """Issue id → (key, summary) via ``POST /rest/api/3/issue/bulkfetch``, ≤100 ids a call.

        Ids Jira does not return (deleted, no permission) are simply absent from the result.
        """
        return {issue_id: (ref.key, ref.summary) for issue_id, ref in self.bulkfetch_refs(ids).items()}

    def bulkfetch_refs(self, ids: Iterable[str | int]) -> dict[str, IssueRef]:
        """Issue id → key, summary and security level (what another source's documents inherit from the issue)."""
        found: dict[str, IssueRef] = {}
        for issue in self._bulkfetch(sorted({str(i) for i in ids}), ["summary", "security"], None):
            if issue.get("id") is None or not issue.get("key"):
                continue  # an entry without id or key resolves nothing: its worklogs say "not visible in Jira"
            fields = issue.get("fields") or {}
            found[str(issue["id"])] = IssueRef(
                str(issue["key"]), str(fields.get("summary") or ""), security_level(fields)
            )
        return found

    def _bulkfetch(
        self, ids_or_keys: list[str], fields: list[str], partition: Partition | None
    ) -> Iterator[Mapping[str, Any]]:
        """The issues Jira still has among ``ids_or_keys``, ≤100 a call; missing ones are simply left out."""
        label = "POST /rest/api/3/issue/bulkfetch"
        for chunk in _chunks(ids_or_keys, BULKFETCH_MAX_IDS):
            body = {"issueIdsOrKeys": chunk, "fields": fields}
            data = self.client.get_json(
                "POST", "/rest/api/3/issue/bulkfetch", json=body, endpoint_label=label, partition=partition
            )
            yield from self._list_of(data, "issues", label, partition)

    def _listing(self, endpoint: str, partition: object | None) -> Listing:
        """Where a listing runs, for the PaginationError of a page that contradicts itself."""
        key = None if partition is None else str(getattr(partition, "key", partition))
        return Listing(source=self.source, endpoint=endpoint, partition=key)

    def _list_of(self, data: Any, field: str, endpoint: str, partition: object | None) -> list[Mapping[str, Any]]:
        items = data.get(field) if isinstance(data, Mapping) else None
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            where = f" [partition {getattr(partition, 'key', partition)}]" if partition else ""
            raise MalformedResponseError(
                f"Jira {endpoint}: response has no list of objects in {field!r}{where}",
                source=self.source,
                endpoint=endpoint,
                partition=str(getattr(partition, "key", partition)) if partition else None,
            )
        return items
