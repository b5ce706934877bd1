"""Pages that contradict themselves fail the listing (PaginationError naming source, endpoint and partition)
instead of silently ending it: on hand-built responses, through the page loop, and through the Jira connector."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.base import Partition
from connectors.errors import MalformedResponseError, PaginationError
from connectors.http import ApiClient, RetryPolicy, make_client
from connectors.jira import JiraConfig, JiraConnector
from connectors.paginators import Listing, NextPageTokenPaginator, OffsetPaginator, PageRequest
from core.settings import Settings
from ingest.document import Document

WHERE = Listing(source="jira", endpoint="POST /rest/api/3/search/jql", partition="jira:ENG:2025-03")
SETTINGS = Settings(
    jira_url="https://acme.atlassian.net", jira_email="me@acme.com", jira_api_token=SecretStr("tok-jira-123456")
)
MARCH = Partition(
    source="jira", scope="ENG", start=datetime(2025, 3, 1, tzinfo=UTC), end=datetime(2025, 4, 1, tzinfo=UTC)
)


def resp(body: object = None) -> httpx.Response:
    return httpx.Response(200, json=body if body is not None else {})


def client_for(handler: Any) -> ApiClient:
    return make_client("jira", "http://api.test", None, transport=httpx.MockTransport(handler), retry=RetryPolicy())


def assert_names_where(error: PaginationError, endpoint: str, partition: str | None) -> None:
    assert (error.source, error.endpoint, error.partition) == ("jira", endpoint, partition)
    assert endpoint in str(error) and str(error).startswith("Jira ")
    if partition:
        assert f"[partition {partition}]" in str(error)


# -- token paging ------------------------------------------------------------------------------------------


def test_is_last_false_without_a_token_raises() -> None:
    pager = NextPageTokenPaginator(PageRequest.build("POST", "/search/jql", body={"jql": "x"}), where=WHERE)
    with pytest.raises(PaginationError, match="page 1 says isLast: false but has no nextPageToken") as caught:
        pager.next_request({"issues": [1, 2], "isLast": False}, resp())
    assert_names_where(caught.value, WHERE.endpoint, WHERE.partition)


@pytest.mark.parametrize(
    "page",
    [
        {"issues": [1]},  # no isLast and no token: the end, as the spec says for the last page
        {"issues": [1], "isLast": True},
        {"issues": [1], "isLast": True, "nextPageToken": "stale"},  # isLast wins over a leftover token
    ],
)
def test_token_paging_still_ends_where_the_page_says_so(page: dict[str, Any]) -> None:
    pager = NextPageTokenPaginator(PageRequest.build("POST", "/search/jql", body={"jql": "x"}), where=WHERE)
    assert pager.next_request(page, resp()) is None


def test_a_paginator_without_context_still_raises() -> None:
    pager = NextPageTokenPaginator(PageRequest.build("GET", "/search/jql", {"jql": "x"}))
    with pytest.raises(PaginationError, match=r"^listing: page 1 says isLast: false"):
        pager.next_request({"isLast": False}, resp())


# -- offset paging -----------------------------------------------------------------------------------------


def test_empty_page_before_total_raises() -> None:
    where = Listing("jira", "GET /rest/api/3/issue/10042/comment", "jira:ENG:2025-03")
    pager = OffsetPaginator(PageRequest.build("GET", "/c"), items_field="comments", limit=100, where=where)
    assert pager.next_request({"comments": list(range(100)), "total": 300}, resp()) is not None
    with pytest.raises(PaginationError, match="empty page at startAt=100 although the listing said a total of 300"):
        pager.next_request({"comments": [], "total": 300}, resp())


def test_empty_page_that_says_is_last_false_raises() -> None:
    pager = OffsetPaginator(PageRequest.build("GET", "/p"), items_field="values", total_field=None, where=WHERE)
    with pytest.raises(PaginationError, match="isLast: false"):
        pager.next_request({"values": [], "isLast": False}, resp())


@pytest.mark.parametrize(
    "page",
    [
        {"comments": [], "total": 0},  # an issue with no comments
        {"comments": []},  # no total to contradict
        {"comments": [], "total": 300, "isLast": True},  # the page itself says it is the last
    ],
)
def test_empty_pages_that_agree_with_themselves_end_quietly(page: dict[str, Any]) -> None:
    pager = OffsetPaginator(PageRequest.build("GET", "/c"), items_field="comments", where=WHERE)
    assert pager.next_request(page, resp()) is None


def test_the_page_loop_lets_the_paginator_error_through() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        token = json.loads(request.content).get("nextPageToken")
        return resp({"issues": [1], "nextPageToken": "t1", "isLast": False} if token is None else {"issues": [2]})

    def contradicting(request: httpx.Request) -> httpx.Response:
        return resp({"issues": [1], "isLast": False})

    pager = NextPageTokenPaginator(PageRequest.build("POST", "/search/jql", body={"jql": "x"}), where=WHERE)
    assert len(list(client_for(handler).paginate(pager, endpoint_label="search"))) == 2
    pager = NextPageTokenPaginator(PageRequest.build("POST", "/search/jql", body={"jql": "x"}), where=WHERE)
    pages = client_for(contradicting).paginate(pager, endpoint_label="search")
    assert next(pages).data["issues"] == [1]  # the first page arrives; asking for more raises
    with pytest.raises(PaginationError):
        next(pages)


# -- the Jira connector ------------------------------------------------------------------------------------


def _comments(start: int, count: int) -> list[dict[str, Any]]:
    return [
        {"id": str(500 + i), "author": {"displayName": f"P{i}"}, "created": "2025-03-02T00:00:00Z", "body": None}
        for i in range(start, start + count)
    ]


def jira_with(search_page: dict[str, Any], comment_pages: dict[int, dict[str, Any]]) -> JiraConnector:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/rest/api/3/search/jql":
            return resp(search_page)
        if request.url.path == "/rest/api/3/issue/10042/comment":
            return resp(comment_pages[int(request.url.params["startAt"])])
        return httpx.Response(404)

    return JiraConnector(JiraConfig.from_settings(SETTINGS, rate_per_s=None), transport=httpx.MockTransport(handler))


def _issue(comment_total: int = 0) -> dict[str, Any]:
    embedded = _comments(0, min(100, comment_total))
    fields = {
        "summary": "Checkout fails on Safari",
        "project": {"key": "ENG"},
        "created": "2025-03-01T09:15:22.123+0000",
        "updated": "2025-03-04T17:02:10.456+0000",
        "comment": {"comments": embedded, "total": comment_total, "startAt": 0, "maxResults": 100},
    }
    return {"id": "10042", "key": "ENG-42", "fields": fields}


def test_jira_search_page_without_token_but_not_last_fails_the_partition() -> None:
    jira = jira_with({"issues": [_issue()], "isLast": False}, {})
    with pytest.raises(PaginationError, match="isLast: false but has no nextPageToken") as caught:
        list(jira.fetch(MARCH))
    assert_names_where(caught.value, "POST /rest/api/3/search/jql", MARCH.key)


def test_jira_empty_comment_page_before_total_fails_the_partition_not_just_the_issue() -> None:
    pages = {0: {"comments": _comments(0, 100), "total": 300}, 100: {"comments": [], "total": 300}}
    jira = jira_with({"issues": [_issue(300)]}, pages)
    with pytest.raises(PaginationError, match=r"empty page at startAt=100 .* total of 300") as caught:
        list(jira.fetch(MARCH))  # not a FetchFailure: nothing partial is committed for the partition
    assert not isinstance(caught.value, MalformedResponseError)
    assert_names_where(caught.value, "GET /rest/api/3/issue/10042/comment", MARCH.key)


def test_jira_comment_listing_short_of_total_after_dedupe_fails() -> None:
    # The second page repeats half of the first: 150 comments arrive, 100 unique; total says 150.
    pages = {0: {"comments": _comments(0, 100), "total": 150}, 100: {"comments": _comments(50, 50), "total": 150}}
    jira = jira_with({"issues": [_issue(150)]}, pages)
    with pytest.raises(PaginationError, match="ended with 100 unique comments of a total of 150") as caught:
        list(jira.fetch(MARCH))
    assert_names_where(caught.value, "GET /rest/api/3/issue/10042/comment", MARCH.key)


def test_jira_complete_comment_listing_still_maps() -> None:
    pages = {0: {"comments": _comments(0, 100), "total": 130}, 100: {"comments": _comments(100, 30), "total": 130}}
    [doc] = list(jira_with({"issues": [_issue(130)]}, pages).fetch(MARCH))
    assert isinstance(doc, Document) and doc.metadata["comment_count"] == 130
