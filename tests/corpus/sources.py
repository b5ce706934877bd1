"""The APIs under test: how each connector is built against the sandbox, its partitions, and raw-record builders.

Every case runs a source's partitions for a fixed window. The first partition is the *bad* one: its listing
requests are answered by the case's canned responses (pinned to it by ``Source.pin``). The others are served by
the sandbox's own corpus: they are the "everything else" that must still land whatever the bad partition does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.base import Partition, Window, epoch_ms
from connectors.http import RetryPolicy
from connectors.jira import JiraConfig, JiraConnector
from connectors.notion import NotionConfig, NotionConnector
from connectors.slack import SlackConfig, SlackConnector
from connectors.slack_mapping import ts_of
from connectors.tempo import TempoConfig, TempoConnector
from core.settings import Settings
from sandbox.context import EPOCH
from sandbox.slack.corpus import SlackCorpus
from tests.corpus.canned import BASE_URL_MARK, Canned, ok

__all__ = [
    "BAD_START",
    "NOTION_SEARCH",
    "SOURCES",
    "Source",
    "adf",
    "comment",
    "comment_page",
    "drop",
    "edit",
    "issue",
    "jira_id",
    "notion_block",
    "notion_children",
    "notion_id",
    "notion_list",
    "notion_page",
    "notion_rich",
    "notion_search",
    "search",
    "search_page",
    "worklog",
    "worklog_page",
    "worklogs",
]

BAD_START = datetime(2026, 6, 1, tzinfo=UTC)  # the bad partition starts here (the sandbox clock is 2026-11-01)
_SPLIT = datetime(2026, 7, 1, tzinfo=UTC)  # Jira's half-year slices split the window here
_TEMPO_SPLIT = datetime(2026, 10, 1, tzinfo=UTC)
_END = datetime(2026, 11, 2, tzinfo=UTC)
NO_SLEEP = RetryPolicy(sleep=lambda _s: None)  # HTML/truncated bodies are retried: the test must never sleep


@dataclass(frozen=True)
class Source:
    """One API of the corpus."""

    api: str  # the sandbox API name and the document id prefix
    display: str  # how its errors name it
    build: Callable[[Settings], Any]  # settings → connector (close() after use)
    partitions: Callable[[Any], list[Partition]]  # connector → [bad partition, *everything else]
    pin: dict[str, Any]  # merged into listing canned responses so they answer the bad partition only

    def base_url(self, connector: Any) -> str:
        return str(connector.base_url)


# -- Jira ------------------------------------------------------------------------------------------------------


def _jira(settings: Settings) -> JiraConnector:
    return JiraConnector(JiraConfig.from_settings(settings, rate_per_s=None), retry=NO_SLEEP)


def _jira_partitions(connector: JiraConnector) -> list[Partition]:
    # One project, a window under 183 days (no "oldest issue" search): two slices, [Jun 1, Jul 1) and [Jul 1, …).
    parts = connector.partitions(Window(start=BAD_START, end=_END), projects=["ENG"])
    assert [(p.start, p.end) for p in parts] == [(BAD_START, _SPLIT), (_SPLIT, _END)], parts
    return parts


JIRA = Source(
    api="jira",
    display="Jira",
    build=_jira,
    partitions=_jira_partitions,
    pin={"body_contains": f"updated >= {epoch_ms(BAD_START)} "},
)

SEARCH = "/rest/api/3/search/jql"
_DAY = "2026-06-15T10:00:00.000+0000"
_PERSON = {"accountId": "712020:corpus", "displayName": "Corpus Bot", "active": True}


def jira_id(n: int) -> str:
    return str(990_000 + n)


def adf(*paragraphs: str) -> dict[str, Any]:
    content = [{"type": "paragraph", "content": [{"type": "text", "text": text}]} for text in paragraphs]
    return {"type": "doc", "version": 1, "content": content}


def comment(i: int, text: str | None = None, created: str = _DAY) -> dict[str, Any]:
    return {
        "id": str(500_000 + i),
        "author": _PERSON,
        "body": adf(text if text is not None else f"comment number {i}"),
        "created": created,
        "updated": created,
    }


def issue(
    n: int,
    *,
    summary: str | None = None,
    description: Any = "",
    comments: Iterable[dict[str, Any]] = (),
    comment_total: int | None = None,
    updated: str = _DAY,
) -> dict[str, Any]:
    """A well-formed search/jql issue (``id`` 99000n, key ``ENG-900n``) of the bad partition."""
    listed = list(comments)
    return {
        "id": jira_id(n),
        "key": f"ENG-{9_000 + n}",
        "self": f"https://example.atlassian.net/rest/api/3/issue/{jira_id(n)}",
        "fields": {
            "summary": summary if summary is not None else f"Corpus issue {n}",
            "description": adf(f"Description of corpus issue {n}.") if description == "" else description,
            "status": {"name": "In Progress"},
            "issuetype": {"name": "Bug"},
            "priority": {"name": "High"},
            "assignee": _PERSON,
            "reporter": _PERSON,
            "created": "2026-06-01T09:00:00.000+0000",
            "updated": updated,
            "project": {"id": "10000", "key": "ENG", "name": "Engineering"},
            "labels": ["corpus"],
            "comment": {
                "comments": listed,
                "maxResults": len(listed),
                "total": len(listed) if comment_total is None else comment_total,
                "startAt": 0,
            },
        },
    }


def search_page(issues: list[Any], *, token: str | None = None, is_last: bool | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {"issues": issues, "isLast": token is None if is_last is None else is_last}
    if token is not None:
        page["nextPageToken"] = token
    return page


def search(issues: list[Any], **kwargs: Any) -> Canned:
    """One search/jql page of the bad partition."""
    return ok(SEARCH, search_page(issues, **kwargs))


def comment_page(issue_id: str, start: int, comments: list[dict[str, Any]], total: int) -> Canned:
    """One ``/issue/{id}/comment`` page (the connector asks ``startAt`` 0, 100, …)."""
    page = {"comments": comments, "maxResults": 100, "total": total, "startAt": start}
    return ok(f"/rest/api/3/issue/{issue_id}/comment", page, query={"startAt": str(start)}, listing=False)


def edit(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``raw`` with the dotted ``path`` set to ``value``."""
    out = copy.deepcopy(raw)
    *parents, last = path.split(".")
    node = out
    for step in parents:
        node = node[step]
    node[last] = value
    return out


def drop(raw: dict[str, Any], path: str) -> dict[str, Any]:
    """A copy of ``raw`` without the dotted ``path``."""
    out = copy.deepcopy(raw)
    *parents, last = path.split(".")
    node = out
    for step in parents:
        node = node[step]
    del node[last]
    return out


# -- Tempo -----------------------------------------------------------------------------------------------------


def _tempo(settings: Settings) -> TempoConnector:
    return TempoConnector(TempoConfig.from_settings(settings, rate_per_s=None), _jira(settings), retry=NO_SLEEP)


def _tempo_partitions(connector: TempoConnector) -> list[Partition]:
    # Tempo reads one partition per window (updatedFrom only): two consecutive windows give two partitions.
    bad = connector.partitions(Window(start=BAD_START, end=_TEMPO_SPLIT))
    rest = connector.partitions(Window(start=_TEMPO_SPLIT, end=_END))
    assert len(bad) == len(rest) == 1
    return [*bad, *rest]


_UPDATED_FROM = BAD_START.strftime("%Y-%m-%dT%H:%M:%SZ")
TEMPO = Source(
    api="tempo",
    display="Tempo",
    build=_tempo,
    partitions=_tempo_partitions,
    pin={"query": {"updatedFrom": _UPDATED_FROM}},
)

WORKLOGS = "/4/worklogs"
TEMPO_ISSUE_ID = 10001  # an issue of the sandbox's Jira corpus, so the key resolves through bulkfetch


def worklog(n: int, **fields: Any) -> dict[str, Any]:
    """A well-formed v4 worklog (``tempoWorklogId`` 88000n) updated inside the bad partition."""
    wid = 880_000 + n
    raw: dict[str, Any] = {
        "self": f"https://api.tempo.io/4/worklogs/{wid}",
        "tempoWorklogId": wid,
        "issue": {"self": f"https://example.atlassian.net/rest/api/2/issue/{TEMPO_ISSUE_ID}", "id": TEMPO_ISSUE_ID},
        "timeSpentSeconds": 3600,
        "billableSeconds": 3600,
        "startDate": "2026-06-15",
        "startTime": "09:30:00",
        "description": f"Corpus worklog {n}",
        "createdAt": "2026-06-15T10:31:00Z",
        "updatedAt": "2026-06-15T10:31:00Z",
        "author": {"accountId": "712020:corpus"},
        "attributes": {"self": f"https://api.tempo.io/4/worklogs/{wid}/work-attribute-values", "values": []},
    }
    raw.update(fields)
    return raw


def worklog_page(results: list[Any], *, offset: int = 0, next_offset: int | None = None, next_url: str = "") -> dict:
    metadata: dict[str, Any] = {"count": len(results), "offset": offset, "limit": 5000}
    if next_offset is not None:
        base = BASE_URL_MARK.decode()
        next_url = f"{base}/4/worklogs?updatedFrom={_UPDATED_FROM}&offset={next_offset}&limit=5000"
    if next_url:
        metadata["next"] = next_url
    return {"self": "https://api.tempo.io/4/worklogs", "metadata": metadata, "results": results}


def worklogs(results: list[Any], *, offset: int = 0, **kwargs: Any) -> Canned:
    """One ``/4/worklogs`` page of the bad partition (page 2+ are matched on their ``offset``)."""
    query = {"offset": str(offset)} if offset else {}
    return ok(WORKLOGS, worklog_page(results, offset=offset, **kwargs), query=query)


# -- Notion ----------------------------------------------------------------------------------------------------

# The bad partition starts at the sandbox clock (2026-11-01 12:00): the sandbox's own pages and rows are all older, so
# the bad partition holds exactly the canned pages. The other partition re-reads three real pages by id.
NOTION_START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
NOTION_EDITED = "2026-11-01T12:30:00.000Z"
NOTION_SEARCH = "/v1/search"


def _notion(settings: Settings) -> NotionConnector:
    return NotionConnector(NotionConfig.from_settings(settings, rate_per_s=None), retry=NO_SLEEP)


def _notion_partitions(connector: NotionConnector) -> list[Partition]:
    bad = connector.partitions(Window(start=NOTION_START, end=_END))
    body = {"filter": {"property": "object", "value": "page"}, "page_size": 3}
    first = next(connector.listing("POST", NOTION_SEARCH, "POST /v1/search", "corpus", body=body))
    real = [f"notion:{page['id']}" for page in first]
    rest = connector.refetch_partitions(real, None, Window(start=NOTION_START, end=_END))
    assert len(bad) == len(rest) == 1
    return [*bad, *rest]


NOTION = Source(
    api="notion",
    display="Notion",
    build=_notion,
    partitions=_notion_partitions,
    pin={"body_contains": '"page"}'},  # the page search (the database search ends "database"}); ids never search
)


def notion_id(n: int, kind: str = "a") -> str:
    """A page (``a``) or block (``b``) id of the bad partition, UUID-shaped."""
    return f"c0ffee00-0000-4000-{kind}000-{n:012d}"


def notion_rich(text: str) -> list[dict[str, Any]]:
    return [
        {"type": "text", "text": {"content": text, "link": None}, "annotations": {}, "plain_text": text, "href": None}
    ]


def notion_page(n: int, **fields: Any) -> dict[str, Any]:
    """A well-formed page (``notion:c0ffee00-…-00000000000n``) edited inside the bad partition."""
    raw: dict[str, Any] = {
        "object": "page",
        "id": notion_id(n),
        "created_time": "2026-11-01T12:10:00.000Z",
        "last_edited_time": NOTION_EDITED,
        "created_by": {"object": "user", "id": "corpus"},
        "parent": {"type": "workspace", "workspace": True},
        "archived": False,
        "in_trash": False,
        "properties": {"title": {"id": "title", "type": "title", "title": notion_rich(f"Corpus page {n}")}},
        "url": f"https://www.notion.so/Corpus-page-{n}",
    }
    raw.update(fields)
    return raw


def notion_block(n: int, kind: str = "paragraph", text: str = "", *, children: bool = False, **payload: Any) -> dict:
    body: dict[str, Any] = {"rich_text": notion_rich(text), **payload} if text or not payload else dict(payload)
    return {
        "object": "block", "id": notion_id(n, "b"), "type": kind, kind: body, "has_children": children,
        "created_time": NOTION_EDITED, "last_edited_time": NOTION_EDITED, "archived": False, "in_trash": False,
        "parent": {"type": "page_id", "page_id": notion_id(0)},
    }  # fmt: skip


def notion_list(results: list[Any], *, cursor: str | None = None, has_more: bool | None = None) -> dict[str, Any]:
    more = cursor is not None if has_more is None else has_more
    return {"object": "list", "results": results, "next_cursor": cursor, "has_more": more, "type": "page_or_database"}


def notion_search(results: list[Any], **kwargs: Any) -> Canned:
    """One page search answer of the bad partition."""
    return ok(NOTION_SEARCH, notion_list(results, **kwargs))


def notion_children(parent_id: str, blocks: list[Any]) -> Canned:
    """``GET /v1/blocks/{parent_id}/children`` (one page of blocks)."""
    return ok(f"/v1/blocks/{parent_id}/children", notion_list(blocks), listing=False)


# -- Slack -----------------------------------------------------------------------------------------------------


def _slack(settings: Settings) -> SlackConnector:
    return SlackConnector(SlackConfig.from_settings(settings, rate_per_s=1000.0, retry=NO_SLEEP))


SLACK_CHANNEL = "general"  # the sandbox's #general has messages after July 2026 (the "everything else" slice)


def _slack_partitions(connector: SlackConnector) -> list[Partition]:
    # Slack slices a channel at Jan 1 / Jul 1: June 2026 is the bad slice, July → November the rest.
    found = connector.partitions(Window(start=BAD_START, end=_END), channels=[SLACK_CHANNEL])
    assert [p.start for p in found] == [BAD_START, _SPLIT], found
    return found


SLACK = Source(
    api="slack",
    display="Slack",
    build=_slack,
    partitions=_slack_partitions,
    pin={"query": {"oldest": ts_of(BAD_START - timedelta(microseconds=1))}},
)

HISTORY = "/conversations.history"
SLACK_USER = "U0CORPUS01"  # unknown to the sandbox: users.info answers user_not_found, the id stands for the name


def message(n: int, **fields: Any) -> dict[str, Any]:
    """A plain top-level message on June 15, 2026 (inside the bad slice), ``n`` seconds after 10:00 UTC."""
    raw: dict[str, Any] = {"type": "message", "user": SLACK_USER, "text": f"Corpus message {n}",
                           "ts": f"{1781517600 + n}.000100", "team": "T0SANDBOX01"}  # fmt: skip
    raw.update(fields)
    return raw


def history(messages: list[Any], *, cursor: str = "", has_more: bool | None = None, **kwargs: Any) -> Canned:
    """One ``conversations.history`` page of the bad slice (page 2+ are matched on their ``cursor``)."""
    body = {"ok": True, "messages": messages, "has_more": bool(cursor) if has_more is None else has_more,
            "response_metadata": {"next_cursor": cursor}}  # fmt: skip
    return ok(HISTORY, body, **kwargs)


def slack_error(code: str, **kwargs: Any) -> Canned:
    """Slack's error answer: HTTP 200, ``ok: false``."""
    return ok(HISTORY, {"ok": False, "error": code}, **kwargs)


# #general of the session sandbox (seed 42): the corpus builds channels eagerly and cheaply, messages lazily.
SLACK_CHANNEL_ID = SlackCorpus(42, 0.01, EPOCH).channels[0].id
SLACK_DAY = f"slack:{SLACK_CHANNEL_ID}:2026-06-15"


SOURCES: dict[str, Source] = {source.api: source for source in (JIRA, TEMPO, NOTION, SLACK)}
