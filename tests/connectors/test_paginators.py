"""Each paginator on hand-built responses, then the page loop's guards (repeat, cap) via MockTransport."""

from __future__ import annotations

import json

import httpx
import pytest

from connectors.errors import MalformedResponseError, PaginationError
from connectors.http import ApiClient, RetryPolicy, make_client
from connectors.paginators import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextPageTokenPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageRequest,
    SinglePagePaginator,
)

BASE = "http://api.test/base"


def resp(body: object = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(200, json=body if body is not None else {}, headers=headers)


def client_for(handler: object) -> ApiClient:
    return make_client("test", BASE, None, transport=httpx.MockTransport(handler), retry=RetryPolicy(sleep=print))


# -- paginators alone ------------------------------------------------------------------------------------


def test_next_page_token_in_post_body_until_token_absent() -> None:
    pager = NextPageTokenPaginator(PageRequest.build("POST", "/search/jql", body={"jql": "x", "maxResults": 100}))
    first = pager.first_request()
    assert "nextPageToken" not in first.body()
    # a short page with a token is NOT the end
    second = pager.next_request({"issues": [1], "nextPageToken": "t1", "isLast": False}, resp())
    assert second is not None and second.body() == {"jql": "x", "maxResults": 100, "nextPageToken": "t1"}
    assert pager.next_request({"issues": [1, 2]}, resp()) is None


def test_next_page_token_stops_on_is_last_and_uses_query_for_get() -> None:
    pager = NextPageTokenPaginator(PageRequest.build("GET", "/search/jql", {"jql": "x"}))
    nxt = pager.next_request({"nextPageToken": "abc"}, resp())
    assert nxt is not None and ("nextPageToken", "abc") in nxt.params
    assert pager.next_request({"nextPageToken": "abc", "isLast": True}, resp()) is None


def test_offset_advances_by_items_returned_when_server_clamps() -> None:
    pager = OffsetPaginator(PageRequest.build("GET", "/project/search"), items_field="values", limit=500)
    assert dict(pager.first_request().params) == {"startAt": "0", "maxResults": "500"}
    nxt = pager.next_request({"values": list(range(100)), "total": 250, "isLast": False}, resp())
    assert nxt is not None and dict(nxt.params)["startAt"] == "100"
    nxt = pager.next_request({"values": list(range(100)), "total": 250}, resp())
    assert nxt is not None and dict(nxt.params)["startAt"] == "200"
    assert pager.next_request({"values": list(range(50)), "total": 250}, resp()) is None


def test_offset_stops_on_empty_page_and_is_last() -> None:
    pager = OffsetPaginator(PageRequest.build("GET", "/c"), items_field="comments", total_field=None)
    assert pager.next_request({"comments": []}, resp()) is None
    pager = OffsetPaginator(PageRequest.build("GET", "/c"), items_field="values")
    assert pager.next_request({"values": [1], "isLast": True}, resp()) is None


def test_next_url_follows_metadata_next() -> None:
    pager = NextUrlPaginator(PageRequest.build("GET", "/4/worklogs", {"limit": 2}))
    nxt = pager.next_request({"metadata": {"next": f"{BASE}/4/worklogs?offset=2&limit=2"}}, resp())
    assert nxt == PageRequest("GET", f"{BASE}/4/worklogs?offset=2&limit=2")
    assert pager.next_request({"metadata": {"count": 0}}, resp()) is None


def test_link_header_follows_rel_next() -> None:
    pager = LinkHeaderPaginator(PageRequest.build("GET", "/repos/a/b/pulls", {"per_page": 100}))
    link = f'<{BASE}/repos/a/b/pulls?page=2>; rel="next", <{BASE}/repos/a/b/pulls?page=9>; rel="last"'
    nxt = pager.next_request([], resp([], {"Link": link}))
    assert nxt is not None and nxt.path.endswith("page=2")
    assert pager.next_request([], resp([])) is None


def test_cursor_in_query_slack_style() -> None:
    pager = CursorPaginator(
        PageRequest.build("GET", "/conversations.history", {"channel": "C1"}),
        path_to_cursor=("response_metadata", "next_cursor"),
        param="cursor",
    )
    nxt = pager.next_request({"response_metadata": {"next_cursor": "dXNlcjpVMDYx"}}, resp())
    assert nxt is not None and dict(nxt.params) == {"channel": "C1", "cursor": "dXNlcjpVMDYx"}
    assert pager.next_request({"response_metadata": {"next_cursor": ""}}, resp()) is None


def test_cursor_in_body_notion_style_respects_has_more() -> None:
    pager = CursorPaginator(
        PageRequest.build("POST", "/v1/search", body={"page_size": 100}),
        path_to_cursor=("next_cursor",),
        param="start_cursor",
        has_more_path=("has_more",),
    )
    nxt = pager.next_request({"next_cursor": "c2", "has_more": True}, resp())
    assert nxt is not None and nxt.body() == {"page_size": 100, "start_cursor": "c2"}
    assert pager.next_request({"next_cursor": "c3", "has_more": False}, resp()) is None


# -- the page loop ---------------------------------------------------------------------------------------


def test_paginate_follows_tokens_to_the_end() -> None:
    pages = {None: ("t1", [1, 2]), "t1": ("t2", [3]), "t2": (None, [4, 5])}

    def handler(request: httpx.Request) -> httpx.Response:
        token = json.loads(request.content).get("nextPageToken")
        nxt, issues = pages[token]
        return resp({"issues": issues, **({"nextPageToken": nxt} if nxt else {}), "isLast": nxt is None})

    pager = NextPageTokenPaginator(PageRequest.build("POST", "/search/jql", body={"jql": "x"}))
    got = [i for page in client_for(handler).paginate(pager, endpoint_label="search") for i in page.data["issues"]]
    assert got == [1, 2, 3, 4, 5]


def test_paginate_raises_when_the_api_repeats_a_token() -> None:
    # The predecessor's bug in miniature: the server ignores the paging parameter and repeats itself.
    def handler(request: httpx.Request) -> httpx.Response:
        return resp({"issues": [1], "nextPageToken": "same", "isLast": False})

    pager = NextPageTokenPaginator(PageRequest.build("POST", "/search/jql", body={"jql": "x"}))
    pages = client_for(handler).paginate(pager, endpoint_label="search/jql", partition="jira:ENG")
    with pytest.raises(PaginationError, match="repeated after 2 pages") as caught:
        list(pages)
    assert caught.value.partition == "jira:ENG"


def test_paginate_raises_on_repeated_next_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return resp({"metadata": {"next": f"{BASE}/4/worklogs?offset=0"}, "results": [1]})

    pager = NextUrlPaginator(PageRequest.build("GET", "/4/worklogs"))
    with pytest.raises(PaginationError, match="repeated"):
        list(client_for(handler).paginate(pager, endpoint_label="worklogs"))


def test_paginate_enforces_the_page_cap() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["startAt"])
        return resp({"values": [offset], "total": 1000})

    pager = OffsetPaginator(PageRequest.build("GET", "/project/search"), items_field="values", limit=1)
    with pytest.raises(PaginationError, match="page cap of 3"):
        list(client_for(handler).paginate(pager, endpoint_label="projects", max_pages=3))


def test_paginate_refuses_a_next_link_to_another_origin() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return resp({"metadata": {"next": "https://evil.example/steal"}})

    pager = NextUrlPaginator(PageRequest.build("GET", "/4/worklogs"))
    with pytest.raises(MalformedResponseError, match="another origin"):
        list(client_for(handler).paginate(pager, endpoint_label="worklogs"))


def test_paginate_empty_on_status_ends_quietly() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"errorMessages": ["No project could be found"]})

    pager = SinglePagePaginator(PageRequest.build("GET", "/project/search", {"keys": ["NOPE"]}))
    assert list(client_for(handler).paginate(pager, endpoint_label="projects", empty_on={404})) == []


def test_page_requests_are_values() -> None:
    a = PageRequest.build("POST", "/x", {"b": 2, "a": [1, 3]}, {"z": 1, "y": [2]})
    b = PageRequest.build("POST", "/x", [("a", 1), ("a", 3), ("b", 2)], {"y": [2], "z": 1})
    assert a == b and hash(a) == hash(b)
