"""Jira Cloud v3 → Documents.

Partitions are (the selected projects) × UTC half-year of ``updated``: one JQL covers every project, so
the request count stays within a few pages of the minimum the page size allows (72 projects × 24 months
of near-empty partitions would cost ~1,700 searches for 76 pages of data).

Issues come from ``POST /rest/api/3/search/jql`` following ``nextPageToken`` (the endpoint ignores
``startAt``; sending it is how the predecessor fetched 24,685 items and 51 unique ones). Window bounds are
**epoch milliseconds**: a formatted date would be read in the searching account's time zone and silently skip
or repeat issues. Every comment is fetched, paging ``/issue/{id}/comment`` when the embedded list is short of
its total.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import ValidationError

from backfill.settings import Settings, require
from connectors.adf import adf_to_text
from connectors.auth import BasicAuth
from connectors.base import (
    FetchFailure,
    Partition,
    Window,
    epoch_ms,
    floor_minute,
    parse_timestamp,
    slice_bounds,
)
from connectors.errors import ConnectorError, MalformedResponseError
from connectors.http import ApiClient, RetryPolicy, make_client
from connectors.paginators import NextPageTokenPaginator, OffsetPaginator, PageRequest
from ingest.document import Document, MetadataValue

__all__ = ["JIRA_FIELDS", "JiraConnector", "ProjectNotFoundError", "issue_to_document", "window_jql"]

SEARCH_PATH = "/rest/api/3/search/jql"
JIRA_FIELDS = [
    "summary", "description", "status", "issuetype", "priority", "assignee", "reporter",
    "created", "updated", "project", "labels", "comment",
]  # fmt: skip
SEARCH_PAGE_SIZE = 100  # the endpoint's effective cap with ordinary fields (5000 only for id/key listings)
ID_PAGE_SIZE = 5000
COMMENT_PAGE_SIZE = 100
PROJECT_PAGE_SIZE = 100  # project/search clamps larger values to 100
PROJECT_KEYS_PER_CALL = 50  # project/search accepts at most 50 keys
BULKFETCH_MAX_IDS = 100  # issue/bulkfetch answers 400 above 100
DEFAULT_RATE_PER_S = 10.0  # API-token traffic is only burst-limited; stay well under it
MAX_SEARCH_PAGES = 5_000  # 500k issues in one project-month would be a bug, not data
_MAPPING_ERRORS = (KeyError, TypeError, ValueError, AttributeError, ValidationError)


class ProjectNotFoundError(ConnectorError):
    """A requested project key does not exist, is archived, or the token cannot see it."""


def _quoted(value: str) -> str:
    # Project keys are quoted: reserved words (e.g. a project called "AND") break unquoted JQL.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


RETRY_SCOPE = "retry:"  # scope of the partition that re-fetches earlier failures by id
FAILED_SINCE = datetime(2000, 1, 1, tzinfo=UTC)  # a retry partition is not bounded by time
SLICE_MONTHS = 6  # partition width: small enough to resume usefully, large enough to keep pages full


def project_clause(project_keys: Iterable[str]) -> str:
    keys = [_quoted(k) for k in project_keys]
    return f"project = {keys[0]}" if len(keys) == 1 else f"project in ({', '.join(keys)})"


def window_jql(project_keys: str | Iterable[str], start: datetime, end: datetime) -> str:
    """The JQL for one partition: epoch-ms bounds (time-zone free), a total order so pages are stable."""
    keys = [project_keys] if isinstance(project_keys, str) else list(project_keys)
    return (
        f"{project_clause(keys)} AND updated >= {epoch_ms(start)} AND updated < {epoch_ms(end)} "
        "ORDER BY updated ASC, key ASC"
    )


def _name(person: Any) -> str:
    if not isinstance(person, Mapping):
        return ""
    return str(person.get("displayName") or person.get("accountId") or "")


def _comment_text(comment: Mapping[str, Any]) -> str:
    when = parse_timestamp(comment["created"]).strftime("%Y-%m-%d %H:%M UTC")
    author = _name(comment.get("author")) or "unknown"
    return f"{author} ({when}):\n{adf_to_text(comment.get('body'))}"


def issue_to_document(raw: Mapping[str, Any], comments: list[Mapping[str, Any]], base_url: str) -> Document:
    """Pure mapper: one search/jql issue (with all comments) → Document. Raises if unmappable."""
    fields = raw["fields"]
    key = str(raw["key"])
    summary = str(fields.get("summary") or "")
    description = adf_to_text(fields.get("description"))
    ordered = sorted(comments, key=lambda c: (parse_timestamp(c["created"]), str(c.get("id", ""))))
    parts = [f"{key}: {summary}", description]
    if ordered:
        parts.append("Comments:\n\n" + "\n\n".join(_comment_text(c) for c in ordered))
    metadata: dict[str, MetadataValue | None] = {
        "project": (fields.get("project") or {}).get("key"),
        "key": key,
        "status": (fields.get("status") or {}).get("name"),
        "type": (fields.get("issuetype") or {}).get("name"),
        "priority": (fields.get("priority") or {}).get("name"),
        "assignee": _name(fields.get("assignee")) or None,
        "reporter": _name(fields.get("reporter")) or None,
        "labels": [str(label) for label in fields.get("labels") or []],
        "created": fields["created"],
        "updated": fields["updated"],
        "comment_count": len(ordered),
    }
    return Document(
        id=f"jira:{raw['id']}",
        source="jira",
        title=f"{key}: {summary}",
        text="\n\n".join(p for p in parts if p),
        url=f"{base_url.rstrip('/')}/browse/{key}",
        created_at=parse_timestamp(fields["created"]),
        updated_at=parse_timestamp(fields["updated"]),
        metadata={k: v for k, v in metadata.items() if v is not None},
    )


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class JiraConnector:
    """The Jira connector: ``partitions``, ``fetch``, ``check``, ``list_ids``, + ``bulkfetch_keys``."""

    source = "jira"

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        rate_per_s: float | None = DEFAULT_RATE_PER_S,
        page_size: int = SEARCH_PAGE_SIZE,
    ) -> None:
        require(settings, "jira_url", "jira_email", "jira_api_token")
        self.page_size = page_size  # the server may return fewer; paging never relies on full pages
        assert settings.jira_email is not None and settings.jira_api_token is not None
        self.base_url = str(settings.jira_url).rstrip("/")
        auth = BasicAuth(settings.jira_email, settings.jira_api_token, setting="JIRA_API_TOKEN")
        self.client: ApiClient = make_client(
            "jira", self.base_url, auth, rate_per_s=rate_per_s, transport=transport, retry=retry
        )

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
        return parse_timestamp(issues[0]["fields"]["updated"]) if issues else None

    def retry_partition(self, doc_ids: Iterable[str], until: datetime) -> Partition:
        """A partition of the issues that failed in earlier runs (``jira:<id>``), fetched again first."""
        ids = sorted({doc_id.removeprefix("jira:") for doc_id in doc_ids}, key=lambda i: (len(i), i))
        return Partition(source=self.source, scope=RETRY_SCOPE + ",".join(ids), start=FAILED_SINCE, end=until)

    def fetch(self, partition: Partition) -> Iterator[Document | FetchFailure]:
        """Every issue of the project updated in ``[start, end)``, lazily, each with all its comments."""
        if partition.scope.startswith(RETRY_SCOPE):
            ids = [i for i in partition.scope.removeprefix(RETRY_SCOPE).split(",") if i.isdigit()]
            jql = f"id in ({', '.join(ids)}) ORDER BY key ASC"
        else:
            jql = window_jql(partition.scope.split(","), partition.start, partition.end)
        body = {
            "jql": jql,
            "fields": JIRA_FIELDS,
            "maxResults": self.page_size,
        }
        pager = NextPageTokenPaginator(PageRequest.build("POST", SEARCH_PATH, body=body))
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
        pager = NextPageTokenPaginator(PageRequest.build("POST", SEARCH_PATH, body=body))
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
        issue_id = raw.get("id", "?") if isinstance(raw, Mapping) else "?"
        try:
            comments = self._all_comments(raw, partition)
            return issue_to_document(raw, comments, self.base_url)
        except MalformedResponseError as exc:  # this issue's comments are unreadable; other issues go on
            return FetchFailure(id=f"jira:{issue_id}", reason=str(exc)[:1000])
        except _MAPPING_ERRORS as exc:
            return FetchFailure(id=f"jira:{issue_id}", reason=f"unmappable issue: {type(exc).__name__}: {exc}"[:1000])

    def _all_comments(self, raw: Mapping[str, Any], partition: Partition) -> list[Mapping[str, Any]]:
        embedded = raw["fields"].get("comment")
        if isinstance(embedded, Mapping):
            comments = list(embedded.get("comments") or [])
            total = embedded.get("total")
            if not isinstance(total, int) or total <= len(comments):
                return comments
        return list(self.issue_comments(str(raw["id"]), partition=partition))

    def issue_comments(self, issue_id: str, *, partition: Partition | None = None) -> Iterator[Mapping[str, Any]]:
        """Every comment of one issue, oldest first, deduplicated by id."""
        path = f"/rest/api/3/issue/{issue_id}/comment"
        pager = OffsetPaginator(
            PageRequest.build("GET", path, {"orderBy": "created"}),
            items_field="comments",
            limit=COMMENT_PAGE_SIZE,
            last_field=None,
        )
        seen: set[str] = set()
        label = "GET /rest/api/3/issue/{id}/comment"
        for page in self.client.paginate(pager, endpoint_label=label, partition=partition):
            for comment in self._list_of(page.data, "comments", label, partition):
                if str(comment.get("id")) not in seen:
                    seen.add(str(comment.get("id")))
                    yield comment

    def bulkfetch_keys(self, ids: Iterable[str | int]) -> dict[str, tuple[str, str]]:
        """Issue id → (key, summary) via ``POST /rest/api/3/issue/bulkfetch``, ≤100 ids a call.

        Ids Jira does not return (deleted, no permission) are simply absent from the result.
        """
        wanted = sorted({str(i) for i in ids})
        found: dict[str, tuple[str, str]] = {}
        label = "POST /rest/api/3/issue/bulkfetch"
        for chunk in _chunks(wanted, BULKFETCH_MAX_IDS):
            body = {"issueIdsOrKeys": chunk, "fields": ["summary"]}
            data = self.client.get_json("POST", "/rest/api/3/issue/bulkfetch", json=body, endpoint_label=label)
            for issue in self._list_of(data, "issues", label, None):
                found[str(issue["id"])] = (
                    str(issue["key"]),
                    str((issue.get("fields") or {}).get("summary") or ""),
                )
        return found

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
