"""Notion pages (and database rows) → Documents, one per page, with their block content read recursively.

``Notion-Version`` is pinned to ``2022-06-28``: under ``2025-09-03`` search speaks ``data_source`` and databases
with several sources break older reads, so a version bump is a code change with its own tests, never drift.

How a window ``[start, end)`` is read (one partition, scope ``workspace``):

- ``POST /v1/search`` (pages, ``last_edited_time`` descending, cursors) down to the first result older than the
  start minus ``SCAN_OVERLAP``: Notion rounds ``last_edited_time`` DOWN to the minute, so a page edited in the
  start's minute carries a time ≤ start; the partition's start is floored to the minute and compared with ``>=``.
  Results are deduplicated by id (a page edited during the scan can show up twice).
- every database search finds (filter ``database``): ``POST /v1/databases/{id}/query`` with a ``last_edited_time
  on_or_after`` filter; its rows are pages, one document each, their properties rendered as lines.
- search is not exhaustive ("not guaranteed to return everything"): a run over the whole history also walks the
  page tree, reading every ``child_page`` (and ``child_database``) it meets that search left out.
- trashed or archived pages are never ingested (pruning removes their documents).

A page listed by search whose blocks then answer 404 ``object_not_found`` (unshared or deleted meanwhile) is a
``FetchFailure``: the next run re-reads it by id (``GET /v1/pages/{id}``) and drops it from the ledger when it is
still gone; its stored document is left to pruning.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.auth import BearerAuth
from connectors.base import (
    MAPPING_ERRORS,
    FetchFailure,
    FetchItem,
    Partition,
    RunNote,
    SkippedScope,
    Window,
    floor_minute,
    parse_timestamp,
)
from connectors.errors import MalformedResponseError, PaginationError, RejectedRequestError
from connectors.http import ApiClient, RetryPolicy, make_client
from connectors.notion_mapping import Block, page_failure_id, page_title, page_to_document, plain_text
from connectors.paginators import CursorPaginator, PageRequest
from core.planning import FULL_HISTORY_START
from core.settings import Settings, require

__all__ = ["MAX_BLOCK_DEPTH", "NOTION_VERSION", "NotionConfig", "NotionConnector"]

NOTION_VERSION = "2022-06-28"
SEARCH_PATH = "/v1/search"
PAGE_SIZE = 100  # Notion's maximum for search, queries and block children
DEFAULT_RATE_PER_S = 3.0  # "an average of three requests per second" per integration
SCAN_OVERLAP = timedelta(minutes=1)  # read past the start by one rounded minute (a mutable sort key)
MAX_BLOCK_DEPTH = 25  # nesting levels read; deeper content is counted and noted, never silently dropped
MAX_PAGES = 10_000
WORKSPACE_SCOPE = "workspace"
RETRY_SCOPE = "ids:"  # a partition re-reading earlier failures by page id
REFETCH_MAX_IDS = 50
_NOT_LINKED = ("child_page", "child_database")  # blocks that stand for another object: never expanded inline


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class NotionConfig(BaseModel):
    """What the Notion connector needs, typed."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    url: str
    token: SecretStr
    rate_per_s: float | None = DEFAULT_RATE_PER_S
    retry: RetryPolicy = Field(default_factory=RetryPolicy)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> NotionConfig:
        """NOTION_API_URL, NOTION_TOKEN (an internal integration secret), NOTION_RATE_PER_S, the retry budget."""
        require(settings, "notion_token")
        values: dict[str, Any] = {
            "url": str(settings.notion_api_url).rstrip("/"),
            "token": settings.notion_token,
            "rate_per_s": settings.notion_rate_per_s,
            "retry": RetryPolicy.from_settings(settings),
        }
        return cls(**{**values, **overrides})


class NotionConnector:
    """The Notion connector: ``partitions``, ``fetch``, ``refetch_partitions``, ``check``, ``list_ids``."""

    source = "notion"
    display = "Notion"

    def __init__(
        self, config: NotionConfig, *, transport: httpx.BaseTransport | None = None, retry: RetryPolicy | None = None
    ) -> None:
        """``transport`` and ``retry`` are test seams; everything else comes from ``config``."""
        self.base_url = config.url
        auth = BearerAuth(config.token, setting="NOTION_TOKEN")
        self.client: ApiClient = make_client(
            "notion",
            self.base_url,
            auth,
            headers={"Notion-Version": NOTION_VERSION},
            rate_per_s=config.rate_per_s,
            transport=transport,
            retry=retry or config.retry,
            display=self.display,
        )
        self._workspace: str | None = None

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> NotionConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the protocol ----------------------------------------------------------------------------------------

    def check(self) -> None:
        """``GET /v1/users/me``: the integration's bot user (and its workspace, which every acl names)."""
        self._workspace = self._read_workspace()

    @property
    def workspace(self) -> str:
        if self._workspace is None:
            self._workspace = self._read_workspace()
        return self._workspace

    def partitions(self, window: Window, **_filters: Any) -> list[Partition]:
        # One partition: search has no time filter, so any split would make every piece scan from the newest page.
        # The start is floored to the minute, as Notion's timestamps are.
        start = floor_minute(window.start)
        return [Partition(source=self.source, scope=WORKSPACE_SCOPE, start=start, end=window.end)]

    def refetch_partitions(self, doc_ids: Sequence[str], since: datetime | None, window: Window) -> list[Partition]:
        """Partitions re-reading failed pages by id (``GET /v1/pages/{id}``), ``REFETCH_MAX_IDS`` ids each.

        A page that answers 404 (deleted or unshared) is not returned: the failure ledger takes it as gone.
        """
        ids = [i.removeprefix("notion:") for i in dict.fromkeys(doc_ids) if _looks_like_id(i)]
        return [
            Partition(
                source=self.source,
                scope=RETRY_SCOPE + ",".join(ids[n : n + REFETCH_MAX_IDS]),
                start=FULL_HISTORY_START,
                end=window.end,
            )
            for n in range(0, len(ids), REFETCH_MAX_IDS)
        ]

    def fetch(self, partition: Partition) -> Iterator[FetchItem]:
        """Every live page edited in ``[start, end)`` (search, database rows, the tree on a full run), lazily."""
        crawl = _Crawl(self, partition)
        if partition.scope.startswith(RETRY_SCOPE):
            for page_id in partition.scope.removeprefix(RETRY_SCOPE).split(","):
                yield from crawl.by_id(page_id)
        else:
            yield from crawl.window(walk=partition.start <= FULL_HISTORY_START)
        yield from crawl.notes()

    def list_ids(self, scope: str = WORKSPACE_SCOPE) -> Iterator[str]:
        """Every live page id reachable: search, database rows and the page tree (what pruning keeps)."""
        everything = Partition(
            source=self.source,
            scope=WORKSPACE_SCOPE,
            start=FULL_HISTORY_START,
            end=datetime.now(UTC) + timedelta(days=1),
        )
        for item in _Crawl(self, everything).window(walk=True):
            if isinstance(item, FetchFailure) and item.reason.startswith("object_not_found"):
                continue  # gone: exactly what pruning is for
            if not isinstance(item, SkippedScope | RunNote):
                yield item.id

    # -- requests ----------------------------------------------------------------------------------------------

    def _read_workspace(self) -> str:
        me = self.client.get_json("GET", "/v1/users/me", endpoint_label="GET /v1/users/me")
        bot = me.get("bot") or {}
        name = bot.get("workspace_id") or bot.get("workspace_name") or "default"
        return str(name).replace("|", "/").strip() or "default"

    def listing(
        self, method: str, path: str, label: str, partition: object, *, params: Any = None, body: Any = None
    ) -> Iterator[list[Mapping[str, Any]]]:
        """The ``results`` of every page of a cursor listing (``start_cursor`` ← ``next_cursor``, ``has_more``)."""
        request = PageRequest.build(method, path, params=params, body=body)
        pager = CursorPaginator(
            request, path_to_cursor=("next_cursor",), param="start_cursor", has_more_path=("has_more",)
        )
        for page in self.client.paginate(pager, endpoint_label=label, partition=partition, max_pages=MAX_PAGES):
            results = page.data.get("results")
            if not isinstance(results, list) or not all(isinstance(r, Mapping) for r in results):
                key = str(getattr(partition, "key", partition))
                raise MalformedResponseError(
                    f"Notion {label}: response has no list of objects in 'results' [partition {key}]",
                    source=self.source,
                    endpoint=label,
                    partition=key,
                )
            if page.data.get("has_more") is True and not page.data.get("next_cursor"):
                key = str(getattr(partition, "key", partition))
                raise PaginationError(
                    f"Notion {label}: has_more is true but next_cursor is empty [partition {key}]",
                    source=self.source,
                    endpoint=label,
                    partition=key,
                )
            yield results

    def get_page(self, page_id: str, partition: Partition) -> Mapping[str, Any] | None:
        """``GET /v1/pages/{id}``; None when Notion answers 404 (deleted, or not shared with the integration)."""
        label = "GET /v1/pages/{id}"
        response = self.client.request(
            "GET", f"/v1/pages/{page_id}", endpoint_label=label, partition=partition, allow_status=(404,)
        )
        if response.status_code == 404:
            return None
        page: Mapping[str, Any] = self.client.parse_json(response, expect=dict, endpoint=label, partition=partition)
        return page

    def children(self, block_id: str, partition: Partition, depth: int, found: list[Mapping[str, Any]]) -> list[Block]:
        """The block tree under ``block_id``, ``depth`` levels already above it; ``found`` collects the
        ``child_page``/``child_database`` blocks met (the tree walk follows them)."""
        label = "GET /v1/blocks/{id}/children"
        blocks: list[Block] = []
        params = {"page_size": PAGE_SIZE}
        for results in self.listing("GET", f"/v1/blocks/{block_id}/children", label, partition, params=params):
            for raw in results:
                block = Block(raw)
                if raw.get("type") in _NOT_LINKED:
                    found.append(raw)
                elif raw.get("has_children"):
                    if depth + 1 < MAX_BLOCK_DEPTH:
                        block.children = self.children(str(raw["id"]), partition, depth + 1, found)
                    else:
                        block.unread_children = True
                blocks.append(block)
        return blocks


def _looks_like_id(doc_id: str) -> bool:
    native = doc_id.removeprefix("notion:")
    return doc_id.startswith("notion:") and len(native.replace("-", "")) == 32 and native.replace("-", "").isalnum()


def _edited(raw: Mapping[str, Any]) -> datetime | None:
    try:
        return parse_timestamp(str(raw["last_edited_time"]))
    except (KeyError, ValueError):
        return None


def _live(raw: Mapping[str, Any]) -> bool:
    return not (raw.get("archived") or raw.get("in_trash"))


class _Crawl:
    """One partition's read: the ids already seen, the pages and databases found in block trees, the tallies."""

    def __init__(self, connector: NotionConnector, partition: Partition) -> None:
        self.c = connector
        self.partition = partition
        self.seen: set[str] = set()
        self.databases: dict[str, str] = {}  # id → title
        self.linked: list[Mapping[str, Any]] = []  # child_page / child_database blocks met
        self.deep: list[str] = []  # pages with content below the depth cap
        self.skipped: dict[str, int] = {}  # unsupported block type → count

    def window(self, *, walk: bool) -> Iterator[FetchItem]:
        p = self.partition
        floor = p.start - SCAN_OVERLAP
        body = {
            "filter": {"property": "object", "value": "page"},
            "sort": {"timestamp": "last_edited_time", "direction": "descending"},
            "page_size": PAGE_SIZE,
        }
        yield from self._search_pages(body, floor)
        db_body = {**body, "filter": {"property": "object", "value": "database"}}
        for results in self.c.listing("POST", SEARCH_PATH, f"POST {SEARCH_PATH} (databases)", p, body=db_body):
            for raw in results:
                if _live(raw) and raw.get("id"):
                    self.databases.setdefault(str(raw["id"]), plain_text(raw.get("title")))
        done: set[str] = set()
        while True:
            if walk:
                yield from self._walk()
            pending = [d for d in self.databases if d not in done]
            if not pending:
                break
            for database_id in pending:
                done.add(database_id)
                yield from self._rows(database_id, floor)
            if not walk:
                break

    def _search_pages(self, body: dict[str, Any], floor: datetime) -> Iterator[FetchItem]:
        for results in self.c.listing("POST", SEARCH_PATH, f"POST {SEARCH_PATH}", self.partition, body=body):
            for raw in results:
                edited = _edited(raw)
                if edited is not None and edited < floor:
                    return  # sorted newest first: everything after this is older still
                yield from self._page(raw)

    def _rows(self, database_id: str, floor: datetime) -> Iterator[FetchItem]:
        label = "POST /v1/databases/{id}/query"
        body = {
            "filter": {"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": _iso(floor)}},
            "sorts": [{"timestamp": "last_edited_time", "direction": "descending"}],
            "page_size": PAGE_SIZE,
        }
        try:
            for results in self.c.listing(
                "POST", f"/v1/databases/{database_id}/query", label, self.partition, body=body
            ):
                for raw in results:
                    yield from self._page(raw)
        except RejectedRequestError as exc:
            if exc.status_code != 404:
                raise
            title = self.databases.get(database_id) or "untitled"
            reason = "Notion answers 404 object_not_found: share the database with the integration (docs/SOURCES.md)"
            yield SkippedScope(scope=f"database {title} ({database_id})", reason=reason)

    def _walk(self) -> Iterator[FetchItem]:
        """Follow the child pages and databases met in block trees that search did not return."""
        while self.linked:
            raw = self.linked.pop()
            target = str(raw.get("id", ""))
            if raw.get("type") == "child_database":
                self.databases.setdefault(target, str((raw.get("child_database") or {}).get("title", "")))
            elif target and target not in self.seen:
                yield from self.by_id(target)

    def by_id(self, page_id: str) -> Iterator[FetchItem]:
        if page_id in self.seen:
            return
        page = self.c.get_page(page_id, self.partition)
        if page is None:
            self.seen.add(page_id)  # gone or unshared: nothing to return (the ledger and pruning take it)
            return
        yield from self._page(page)

    def _page(self, raw: Mapping[str, Any]) -> Iterator[FetchItem]:
        page_id = str(raw.get("id") or "")
        if page_id in self.seen or raw.get("object", "page") != "page":
            return
        edited = _edited(raw)
        if edited is not None and not self.partition.contains(edited):
            return  # outside the window (the scan's overlap, or edited after its end: the next run's)
        self.seen.add(page_id)
        if not _live(raw):
            return  # trashed: never ingested; pruning removes a stored copy
        try:
            blocks = self.c.children(page_id, self.partition, 0, self.linked) if page_id else []
            doc = page_to_document(raw, blocks, self.c.workspace)
        except RejectedRequestError as exc:
            if exc.status_code != 404:
                raise
            reason = (
                f"object_not_found: Notion listed page {page_title(raw)!r} but its blocks answer 404 (unshared or "
                "deleted since); the next run re-reads it by id and drops it when it is still gone"
            )
            yield FetchFailure(id=page_failure_id(raw), reason=reason, updated_at=edited)
            return
        except MAPPING_ERRORS as exc:
            reason = f"unmappable page: {type(exc).__name__}: {exc}"[:1000]
            yield FetchFailure(id=page_failure_id(raw), reason=reason, updated_at=edited)
            return
        if doc.metadata.get("unread_deep_blocks"):
            self.deep.append(doc.id)
        for kind in doc.metadata.get("skipped_block_types") or []:  # type: ignore[union-attr]
            self.skipped[str(kind)] = self.skipped.get(str(kind), 0) + 1
        yield doc

    def notes(self) -> Iterator[RunNote]:
        if self.deep:
            shown = ", ".join(self.deep[:5]) + (" …" if len(self.deep) > 5 else "")
            yield RunNote(
                text=f"{len(self.deep)} Notion page(s) nest blocks deeper than {MAX_BLOCK_DEPTH} levels; the content "
                f"below that was not read (metadata unread_deep_blocks): {shown}"
            )
        if self.skipped:
            kinds = ", ".join(f"{kind} ({n} page(s))" for kind, n in sorted(self.skipped.items()))
            yield RunNote(
                text=f"Notion block types without readable text were skipped (metadata skipped_blocks): {kinds}"
            )
