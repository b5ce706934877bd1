"""The toy connector: one repository's GitHub issues (pull requests included) → ``toy:<issue id>`` Documents.

One scope (the repository), yearly partitions, and GitHub's ``since`` + ``sort=updated&direction=asc`` listing
with Link-header paging through the one HTTP layer. ``since`` has no upper bound, so a partition stops reading
at the first issue updated at or after its end: the listing is sorted, everything later belongs to later ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.auth import BearerAuth
from connectors.base import MAPPING_ERRORS, FetchFailure, Partition, Window, parse_timestamp, slice_bounds
from connectors.http import ApiClient, make_client
from connectors.paginators import LinkHeaderPaginator, PageRequest
from core.planning import FULL_HISTORY_START
from core.settings import Settings, require
from ingest.document import Document

__all__ = ["REPO", "ToyConnector", "issue_to_document"]

REPO = "acme/api"  # the sandbox's first repository
PAGE_SIZE = 100  # GitHub's maximum per_page
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


def issue_to_document(raw: Mapping[str, Any], repo: str = REPO) -> Document:
    """Pure mapper: one item of ``GET /repos/{repo}/issues`` → Document (``id`` is GitHub's immutable issue id)."""
    kind = "pull request" if raw.get("pull_request") else "issue"
    author = str((raw.get("user") or {}).get("login") or "unknown")
    title = f"{repo}#{int(raw['number'])} {raw['title']}"
    body = str(raw.get("body") or "").strip()
    return Document(
        id=f"toy:{int(raw['id'])}",
        source="toy",
        title=title,
        text=f"{title}\n{kind} by {author}, {raw['state']}\n\n{body}".strip(),
        url=str(raw.get("html_url") or ""),
        created_at=parse_timestamp(raw["created_at"]),
        updated_at=parse_timestamp(raw["updated_at"]),
        metadata={
            "repo": repo,
            "number": int(raw["number"]),
            "kind": kind,
            "state": str(raw["state"]),
            "author": author,
            "labels": [str(label["name"]) for label in raw.get("labels") or []],
        },
    )


def _since(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ToyConnector:
    """The toy source's Connector: partitions, fetch, refetch_partitions, check, list_ids, close."""

    source = "toy"
    display = "Toy"

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> None:
        require(settings, "github_token")
        assert settings.github_token is not None
        auth = BearerAuth(settings.github_token, setting="GITHUB_TOKEN")
        self.client: ApiClient = make_client(
            "toy", str(settings.github_api_url), auth, headers=HEADERS, transport=transport, settings=settings,
            display=self.display,
        )  # fmt: skip

    def close(self) -> None:
        self.client.close()

    def check(self) -> None:
        self.client.get_json("GET", "/user", endpoint_label="GET /user")

    def partitions(self, window: Window, **_filters: Any) -> list[Partition]:
        bounds = slice_bounds(window, 12)
        return [Partition(source=self.source, scope=REPO, start=start, end=end) for start, end in bounds]

    def refetch_partitions(self, doc_ids: Sequence[str], since: datetime | None, window: Window) -> list[Partition]:
        """Issues cannot be listed by id: re-read from the earliest window that held a failed one."""
        start = since or FULL_HISTORY_START
        if not doc_ids or start >= window.start:
            return []
        return [Partition(source=self.source, scope=REPO, start=start, end=window.start)]

    def fetch(self, partition: Partition) -> Iterator[Document | FetchFailure]:
        for raw in self._issues(partition.scope, partition, since=partition.start):
            try:
                if parse_timestamp(str(raw["updated_at"])) >= partition.end:
                    return  # sorted by update time: the rest belongs to later partitions
                yield issue_to_document(raw, partition.scope)
            except MAPPING_ERRORS as exc:
                reason = f"unmappable issue: {type(exc).__name__}: {exc}"[:1000]
                yield FetchFailure(id=f"toy:{raw.get('id') or 'unidentified'}", reason=reason)

    def list_ids(self, scope: str) -> Iterator[str]:
        for raw in self._issues(scope, scope):
            yield f"toy:{raw['id']}"

    def _issues(self, repo: str, partition: object, since: datetime | None = None) -> Iterator[Mapping[str, Any]]:
        path = f"/repos/{repo}/issues"
        params = {"state": "all", "sort": "updated", "direction": "asc", "per_page": PAGE_SIZE}
        request = PageRequest.build("GET", path, {**params, "since": _since(since) if since else None})
        pager = LinkHeaderPaginator(request)
        for page in self.client.paginate(pager, endpoint_label=f"GET {path}", partition=partition, expect=list):
            yield from page.data
