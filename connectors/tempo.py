"""Tempo Cloud v4 worklogs → Documents, one per worklog, with the Jira issue key and summary resolved.

The sync cursor is ``updatedFrom`` — never the work date: ``from``/``to`` filter on the day the work was
done, so an old worklog edited today would be missed. ``from``/``to`` are therefore set wide open. Since v4
(Jan 2025) a worklog carries only the numeric Jira issue id; keys come from Jira's bulkfetch,
cached per connector.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.auth import BearerAuth
from connectors.base import MAPPING_ERRORS, FetchFailure, Partition, Window, parse_timestamp
from connectors.errors import MalformedResponseError
from connectors.http import ApiClient, RetryPolicy, make_client
from connectors.jira import IssueRef, JiraConnector
from connectors.paginators import NextUrlPaginator, PageRequest
from core.planning import FULL_HISTORY_START
from core.settings import Settings, require
from ingest.document import Document, MetadataValue

__all__ = ["TempoConfig", "TempoConnector", "failure_id", "worklog_to_document"]

WORKLOGS_PATH = "/4/worklogs"
PAGE_SIZE = 5000  # v4's maximum: fewest requests against a 5 req/s quota
# The work-date filter is not our cursor; keep it wide open so edits to old worklogs are seen.
WIDE_FROM = "1970-01-01"
WIDE_TO = "2999-12-31"
DEFAULT_RATE_PER_S = 5.0  # Tempo's guidance: at most 5 requests/s whatever the auth type
MAX_PAGES = 10_000


def _tempo_time(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def worklog_to_document(raw: Mapping[str, Any], issue: IssueRef | None, jira_url: str) -> Document:
    """Pure mapper: one v4 worklog (+ its resolved Jira issue, if Jira still has it) → Document."""
    worklog_id = int(raw["tempoWorklogId"])
    issue_id = str(raw["issue"]["id"])
    key, summary, security = issue if issue else ("", "", "")
    author = raw.get("author") or {}
    author_name = str(author.get("displayName") or author.get("accountId") or "unknown")
    hours = round(int(raw["timeSpentSeconds"]) / 3600, 2)
    billable = raw.get("billableSeconds")
    date = str(raw["startDate"])
    description = str(raw.get("description") or "").strip()
    issue_label = f"{key} {summary}".strip() if key else f"Jira issue {issue_id} (not visible in Jira)"
    lines = [
        f"Worklog by {author_name} on {date}{' at ' + str(raw['startTime']) if raw.get('startTime') else ''}",
        f"Issue: {issue_label}",
        f"Time spent: {hours} h" + (f" (billable {round(int(billable) / 3600, 2)} h)" if billable else ""),
    ]
    if description:
        lines.append(f"Description: {description}")
    attributes = [
        f"{a['key']}={a.get('value')}"
        for a in (raw.get("attributes") or {}).get("values") or []
        if isinstance(a, Mapping) and "key" in a
    ]
    metadata: dict[str, MetadataValue | None] = {
        "issue_id": issue_id,
        "issue_key": key or None,
        "issue_summary": summary or None,
        "project": key.split("-", 1)[0] if key else None,
        "author_account_id": author.get("accountId"),
        "author": author_name,
        "hours": hours,
        "start_date": date,
        "attributes": attributes,
    }
    return Document(
        id=f"tempo:{worklog_id}",
        source="tempo",
        title=f"{key or 'issue ' + issue_id}: {hours} h by {author_name} on {date}",
        text="\n".join(lines),
        url=f"{jira_url.rstrip('/')}/browse/{key}" if key else str(raw.get("self") or ""),
        created_at=parse_timestamp(raw["createdAt"]),
        updated_at=parse_timestamp(raw["updatedAt"]),
        metadata={k: v for k, v in metadata.items() if v is not None},
        acl=_acl(key, security),
    )


def _acl(issue_key: str, security: str = "") -> list[str]:
    """Who may read a worklog: whoever may read its Jira issue (``jira:project:<KEY>``, plus
    ``jira:security:<level>`` when the issue has a security level — the worklog shows the issue's summary).

    A worklog whose issue Jira does not show us (deleted, or hidden from our token) fails closed: its acl is
    ``tempo:restricted``, which no principal holds unless granted it explicitly.
    """
    if not issue_key:
        return ["tempo:restricted"]
    return [f"jira:project:{issue_key.rsplit('-', 1)[0]}", *([f"jira:security:{security}"] if security else [])]


def failure_id(raw: Any) -> str:
    """The ledger id of a worklog that could not be mapped: ``tempo:<tempoWorklogId>``, else
    ``tempo:unidentified-<digest of the raw worklog>`` (two id-less worklogs are two failures, not one)."""
    ident = raw.get("tempoWorklogId") if isinstance(raw, Mapping) else None
    text = "" if ident is None else str(ident).strip()
    if text:
        return f"tempo:{text}"
    digest = hashlib.sha1(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"tempo:unidentified-{digest}"


def _updated(raw: Mapping[str, Any]) -> datetime | None:
    try:
        return parse_timestamp(str(raw["updatedAt"]))
    except (KeyError, ValueError):
        return None


class TempoConfig(BaseModel):
    """What the Tempo connector needs, typed (its Jira connector has its own ``JiraConfig``)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    url: str
    api_token: SecretStr
    rate_per_s: float | None = DEFAULT_RATE_PER_S
    retry: RetryPolicy = Field(default_factory=RetryPolicy)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> TempoConfig:
        """TEMPO_API_URL (the region's host), TEMPO_API_TOKEN, TEMPO_RATE_PER_S and the HTTP retry budget."""
        require(settings, "tempo_api_token")
        values: dict[str, Any] = {
            "url": str(settings.tempo_api_url).rstrip("/"),
            "api_token": settings.tempo_api_token,
            "rate_per_s": settings.tempo_rate_per_s,
            "retry": RetryPolicy.from_settings(settings),
        }
        return cls(**{**values, **overrides})


class TempoConnector:
    """The Tempo connector: ``partitions``, ``fetch``, ``check``, ``list_ids``; keys resolved through Jira."""

    source = "tempo"
    display = "Tempo"

    def __init__(
        self,
        config: TempoConfig,
        jira: JiraConnector,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """``transport`` and ``retry`` are test seams; everything else comes from ``config``."""
        self.jira = jira
        self.base_url = config.url
        auth = BearerAuth(config.api_token, setting="TEMPO_API_TOKEN")
        self.client: ApiClient = make_client(
            "tempo", self.base_url, auth, rate_per_s=config.rate_per_s, transport=transport,
            retry=retry or config.retry, display=self.display,
        )  # fmt: skip
        self._issues: dict[str, IssueRef | None] = {}  # issue id → (key, summary); None = Jira doesn't have it

    def close(self) -> None:
        self.client.close()
        self.jira.close()

    def __enter__(self) -> TempoConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self) -> None:
        """One cheap authenticated call (a wrong regional host also shows up here as an auth error)."""
        self.client.get_json("GET", WORKLOGS_PATH, params={"limit": 1}, endpoint_label=f"GET {WORKLOGS_PATH}")

    def partitions(self, window: Window, **_filters: Any) -> list[Partition]:
        # One partition for the whole window: Tempo filters only by ``updatedFrom`` (no upper bound), so any
        # time split would make every partition re-read everything updated after its start.
        return [Partition(source=self.source, scope="all", start=window.start, end=window.end)]

    def refetch_partitions(self, doc_ids: Sequence[str], since: datetime | None, window: Window) -> list[Partition]:
        """Tempo cannot read worklogs by id: re-read from the earliest window that held a failed one.

        Only the part before ``window`` is added (the window's own partition reads the rest), so no worklog is
        read twice. A failed worklog that was edited since is found in the later part, one that was deleted
        in neither.
        """
        start = since or FULL_HISTORY_START
        if not doc_ids or start >= window.start:
            return []
        return [Partition(source=self.source, scope="all", start=start, end=window.start)]

    def fetch(self, partition: Partition) -> Iterator[Document | FetchFailure]:
        """Worklogs updated in ``[start, end)``, lazily, deduplicated on ``tempoWorklogId``.

        Tempo only has ``updatedFrom`` (no ``updatedTo``): the listing returns everything updated since the
        partition's start, so rows updated at or after ``end`` are dropped here: they belong to a later
        partition.
        """
        params = {
            "updatedFrom": _tempo_time(partition.start),
            "from": WIDE_FROM,
            "to": WIDE_TO,
            "limit": PAGE_SIZE,
        }
        seen: set[str] = set()
        for worklogs in self._pages(params, partition):
            batch = [w for w in worklogs if self._in_partition(w, partition)]
            self._resolve_issues(batch)
            for raw in batch:
                worklog_id = raw.get("tempoWorklogId")
                # Offset paging over a moving set can repeat a row; the id is the dedupe key. A row without
                # one is never a repeat: each becomes its own failure.
                if worklog_id is not None:
                    if str(worklog_id) in seen:
                        continue
                    seen.add(str(worklog_id))
                yield self._worklog_or_failure(raw)

    def list_ids(self, scope: str = "all") -> Iterator[str]:
        """Every live worklog id (deleted worklogs never appear in ``/4/worklogs``)."""
        seen: set[str] = set()
        for worklogs in self._pages({"from": WIDE_FROM, "to": WIDE_TO, "limit": PAGE_SIZE}, scope):
            for raw in worklogs:
                doc_id = f"tempo:{raw.get('tempoWorklogId')}"
                if doc_id not in seen:
                    seen.add(doc_id)
                    yield doc_id

    # -- internals ---------------------------------------------------------------------------------------

    def _pages(self, params: dict[str, Any], partition: object) -> Iterator[list[Mapping[str, Any]]]:
        pager = NextUrlPaginator(PageRequest.build("GET", WORKLOGS_PATH, params))
        label = f"GET {WORKLOGS_PATH}"
        for page in self.client.paginate(pager, endpoint_label=label, partition=partition, max_pages=MAX_PAGES):
            results = page.data.get("results")
            if not isinstance(results, list) or not all(isinstance(r, Mapping) for r in results):
                key = str(getattr(partition, "key", partition))
                raise MalformedResponseError(
                    f"Tempo {label}: response has no list of objects in 'results' [partition {key}]",
                    source=self.source,
                    endpoint=label,
                    partition=key,
                )
            yield results

    @staticmethod
    def _in_partition(raw: Mapping[str, Any], partition: Partition) -> bool:
        try:
            return partition.contains(parse_timestamp(str(raw["updatedAt"])))
        except (KeyError, ValueError):
            return True  # keep it: the mapper turns it into a FetchFailure instead of silently dropping it

    def _resolve_issues(self, worklogs: list[Mapping[str, Any]]) -> None:
        unknown = set()
        for raw in worklogs:
            issue_id = str((raw.get("issue") or {}).get("id", ""))
            if issue_id and issue_id not in self._issues:
                unknown.add(issue_id)
        if unknown:
            found = self.jira.bulkfetch_refs(unknown)
            self._issues.update({issue_id: found.get(issue_id) for issue_id in unknown})

    def _worklog_or_failure(self, raw: Mapping[str, Any]) -> Document | FetchFailure:
        try:
            issue = self._issues.get(str(raw["issue"]["id"]))
            return worklog_to_document(raw, issue, self.jira.base_url)
        except MAPPING_ERRORS as exc:
            reason = f"unmappable worklog: {type(exc).__name__}: {exc}"[:1000]
            return FetchFailure(id=failure_id(raw), reason=reason, updated_at=_updated(raw))
