"""The Jira sandbox over real HTTP: responses match Atlassian's OpenAPI schemas, and the quirks are real."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from sandbox.server import RunningSandbox

SPEC = "jira/jira-platform-v3.trimmed.json"
ORDER = "ORDER BY updated ASC, key ASC"
FIELDS = "summary,description,status,issuetype,priority,assignee,reporter,created,updated,project,labels,comment"


def _client(sb: RunningSandbox) -> httpx.Client:
    return httpx.Client(base_url=sb.env["JIRA_URL"], auth=(sb.env["JIRA_EMAIL"], sb.env["JIRA_API_TOKEN"]), timeout=30)


def _project_keys(client: httpx.Client) -> list[str]:
    body = client.get("/rest/api/3/project/search", params=[("status", "live"), ("status", "archived")]).json()
    return [p["key"] for p in body["values"]]


def _all_jql(client: httpx.Client) -> str:
    return "project in (" + ", ".join(f'"{k}"' for k in _project_keys(client)) + ")"


def _search_all(client: httpx.Client, jql: str, **params: Any) -> list[dict[str, Any]]:
    issues: list[dict[str, Any]] = []
    token = None
    for _ in range(200):
        page = client.get(
            "/rest/api/3/search/jql", params={"jql": jql, **params, **({"nextPageToken": token} if token else {})}
        )
        page.raise_for_status()
        body = page.json()
        issues += body["issues"]
        token = body.get("nextPageToken")
        if token is None:
            assert body["isLast"] is True
            return issues
    raise AssertionError("search never ended")


def test_search_jql_get_and_post_match_the_vendor_schema(sandbox: RunningSandbox, vendor_schema: Any) -> None:
    validator = vendor_schema(SPEC, "SearchAndReconcileResults")
    with _client(sandbox) as client:
        jql = f"{_all_jql(client)} {ORDER}"
        got = client.get("/rest/api/3/search/jql", params={"jql": jql, "fields": FIELDS, "maxResults": 20})
        posted = client.post("/rest/api/3/search/jql", json={"jql": jql, "fields": FIELDS.split(","), "maxResults": 20})
    assert got.status_code == posted.status_code == 200
    assert got.json() == posted.json()
    validator.validate(got.json())
    issue = got.json()["issues"][0]
    assert set(issue["fields"]) == set(FIELDS.split(","))
    assert issue["fields"]["updated"].endswith("+0000")


def test_fields_default_to_id_only(sandbox: RunningSandbox) -> None:
    with _client(sandbox) as client:
        body = client.get("/rest/api/3/search/jql", params={"jql": f"{_all_jql(client)} {ORDER}"}).json()
    assert body["issues"] and all(issue == {"id": issue["id"]} for issue in body["issues"])
    assert len(body["issues"]) == 50  # the default page size


def test_other_endpoints_match_the_vendor_schema(sandbox: RunningSandbox, vendor_schema: Any) -> None:
    with _client(sandbox) as client:
        projects = client.get("/rest/api/3/project/search", params=[("status", "live"), ("status", "archived")])
        bulk = client.post(
            "/rest/api/3/issue/bulkfetch", json={"issueIdsOrKeys": ["10001", "10000"], "fields": ["*all"]}
        )
        comments = client.get("/rest/api/3/issue/10007/comment", params={"maxResults": 5})
        me = client.get("/rest/api/3/myself")
    vendor_schema(SPEC, "PageBeanProject").validate(projects.json())
    vendor_schema(SPEC, "BulkIssueResults").validate(bulk.json())
    vendor_schema(SPEC, "PageOfComments").validate(comments.json())
    vendor_schema(SPEC, "User").validate(me.json())
    assert [i["id"] for i in bulk.json()["issues"]] == ["10000", "10001"]  # ascending id order
    assert me.json()["timeZone"] == "UTC"
    archived = [p for p in projects.json()["values"] if p.get("archived")]
    assert archived and all("archivedDate" in p for p in archived)


def test_start_at_is_ignored_on_search_jql(sandbox: RunningSandbox) -> None:
    with _client(sandbox) as client:
        jql = f"{_all_jql(client)} {ORDER}"
        first = client.get("/rest/api/3/search/jql", params={"jql": jql, "maxResults": 10}).json()
        offset = client.get("/rest/api/3/search/jql", params={"jql": jql, "maxResults": 10, "startAt": 10}).json()
        posted = client.post("/rest/api/3/search/jql", json={"jql": jql, "maxResults": 10, "startAt": 10}).json()
    assert first["issues"] == offset["issues"] == posted["issues"]
    assert "total" not in first and "startAt" not in first


def test_token_paging_reaches_every_issue_and_omits_the_token_at_the_end(sandbox: RunningSandbox) -> None:
    with _client(sandbox) as client:
        jql = _all_jql(client)
        issues = _search_all(client, f"{jql} {ORDER}", maxResults=7, fields="updated")
        ids_only = _search_all(client, f"{jql} {ORDER}", maxResults=5000)
    ids = [i["id"] for i in issues]
    assert len(ids) == len(set(ids)) == len(ids_only) == 76
    stamps = [datetime.strptime(i["fields"]["updated"], "%Y-%m-%dT%H:%M:%S.%f%z") for i in issues]
    assert stamps == sorted(stamps)


def test_page_size_is_capped_with_fields(sandbox: RunningSandbox) -> None:
    with _client(sandbox) as client:
        body = client.get(
            "/rest/api/3/search/jql",
            params={"jql": f"{_all_jql(client)} {ORDER}", "maxResults": 1000, "fields": "summary"},
        ).json()
    assert len(body["issues"]) == 76 or len(body["issues"]) == 100
    assert body["isLast"] is (len(body["issues"]) == 76)


def test_old_search_endpoint_is_gone(sandbox: RunningSandbox) -> None:
    with _client(sandbox) as client:
        response = client.get("/rest/api/3/search", params={"jql": "project = ENG", "startAt": 0})
    assert response.status_code == 410
    assert "/rest/api/3/search/jql" in response.json()["errorMessages"][0]
    assert "CHANGE-2046" in response.json()["errorMessages"][0]


@pytest.mark.parametrize(
    ("jql", "fragment"),
    [
        ("order by key", "Unbounded"),
        ("project = ENG foo", "Error in the JQL Query"),
        ("projekt = ENG", "Field"),
        ('project = ENG AND updated >= "yesterday-ish"', "Date value"),
        ("project = NOPE", "does not exist"),
    ],
)
def test_bad_jql_answers_400_with_error_messages(sandbox: RunningSandbox, jql: str, fragment: str) -> None:
    with _client(sandbox) as client:
        response = client.get("/rest/api/3/search/jql", params={"jql": jql})
    assert response.status_code == 400
    assert fragment in response.json()["errorMessages"][0]


def test_naive_jql_dates_are_read_in_the_users_time_zone(fresh_sandbox: RunningSandbox) -> None:
    with _client(fresh_sandbox) as client:
        scope = _all_jql(client)
        sample = client.get("/rest/api/3/search/jql", params={"jql": f"{scope} {ORDER}", "fields": "updated"})
        updated = datetime.strptime(sample.json()["issues"][3]["fields"]["updated"], "%Y-%m-%dT%H:%M:%S.%f%z")
        naive = (updated + timedelta(hours=5)).strftime("%Y-%m-%d %H:%M")  # a UTC wall time 5 h after the issue
        epoch_ms = int(updated.timestamp() * 1000) - 60_000

        def ids(bound: str) -> set[str]:
            return {i["id"] for i in _search_all(client, f"{scope} AND updated >= {bound}", maxResults=5000)}

        utc_naive, utc_epoch = ids(f'"{naive}"'), ids(str(epoch_ms))
        fresh_sandbox.control("jira/set_timezone", {"tz": "Australia/Brisbane"})
        assert client.get("/rest/api/3/myself").json()["timeZone"] == "Australia/Brisbane"
        brisbane_naive, brisbane_epoch = ids(f'"{naive}"'), ids(str(epoch_ms))
        fresh_sandbox.control("jira/set_timezone", {"tz": "America/Los_Angeles"})
        la_naive = ids(f'"{naive}"')
    issue_id = sample.json()["issues"][3]["id"]
    assert issue_id not in utc_naive and issue_id in brisbane_naive  # +10 h: the same string starts earlier
    assert la_naive <= utc_naive < brisbane_naive  # behind UTC: the window starts later
    assert utc_epoch == brisbane_epoch and issue_id in utc_epoch  # epoch ms means the same instant everywhere


def test_embedded_comments_stop_short_and_the_comment_endpoint_pages_through_all(sandbox: RunningSandbox) -> None:
    with _client(sandbox) as client:
        issue = client.post(
            "/rest/api/3/issue/bulkfetch", json={"issueIdsOrKeys": ["10007"], "fields": ["comment"]}
        ).json()["issues"][0]
        embedded = issue["fields"]["comment"]
        assert embedded["total"] > 100 and len(embedded["comments"]) == 100
        seen: list[str] = []
        start = 0
        while start < embedded["total"]:
            page = client.get("/rest/api/3/issue/10007/comment", params={"startAt": start, "maxResults": 40}).json()
            assert page["total"] == embedded["total"] and page["startAt"] == start
            seen += [c["id"] for c in page["comments"]]
            start += len(page["comments"])
    assert len(seen) == len(set(seen)) == embedded["total"]


def test_bulkfetch_refuses_more_than_100_ids(sandbox: RunningSandbox) -> None:
    with _client(sandbox) as client:
        response = client.post(
            "/rest/api/3/issue/bulkfetch", json={"issueIdsOrKeys": [str(10000 + n) for n in range(101)]}
        )
    assert response.status_code == 400
    assert response.json()["errorMessages"]


def test_project_search_honours_start_at_and_hides_archived_by_default(sandbox: RunningSandbox) -> None:
    with _client(sandbox) as client:
        both = [("status", "live"), ("status", "archived"), ("maxResults", "1")]
        first = client.get("/rest/api/3/project/search", params=both).json()
        second = client.get("/rest/api/3/project/search", params=[*both, ("startAt", "1")]).json()
        live = client.get("/rest/api/3/project/search").json()
        missing = client.get("/rest/api/3/project/search", params={"keys": "NOPE"})
    assert first["values"][0]["key"] != second["values"][0]["key"]
    assert first["isLast"] is False and second["isLast"] is True and "nextPage" in first
    assert all(not p.get("archived") for p in live["values"]) and live["total"] < first["total"]
    assert missing.status_code == 404


def test_bad_credentials_and_the_auth_switch_answer_401(fresh_sandbox: RunningSandbox) -> None:
    url = fresh_sandbox.env["JIRA_URL"] + "/rest/api/3/myself"
    assert httpx.get(url, auth=(fresh_sandbox.env["JIRA_EMAIL"], "wrong")).status_code == 401
    assert httpx.get(url).status_code == 401
    with _client(fresh_sandbox) as client:
        assert client.get("/rest/api/3/myself").status_code == 200
        fresh_sandbox.control("jira/auth", {"fail": True})
        response = client.get("/rest/api/3/myself")
    assert response.status_code == 401
    assert "authenticated" in response.text


def test_control_mutations_show_up_in_incremental_search(fresh_sandbox: RunningSandbox) -> None:
    fresh_sandbox.control("clock", {"advance_seconds": 3600})
    edited = fresh_sandbox.control("jira/edit_issue", {"n": 2})
    added = fresh_sandbox.control("jira/add_issue", {"project": "ENG"})
    commented = fresh_sandbox.control("jira/comment", {"key": "ENG-3"})
    deleted = fresh_sandbox.control("jira/delete_issue", {"key": "ENG-4"})
    since = int(datetime.fromisoformat(fresh_sandbox.control("counters")["now"]).timestamp() * 1000) - 60_000
    with _client(fresh_sandbox) as client:
        found = _search_all(client, f"{_all_jql(client)} AND updated >= {since} {ORDER}", maxResults=100, fields="key")
        gone = client.get("/rest/api/3/issue/ENG-4/comment")
    keys = {i["key"] for i in found}
    assert keys == {*edited["keys"], *added["keys"], commented["key"]}
    assert deleted["key"] not in keys and gone.status_code == 404


def test_burst_quota_answers_429_with_jira_headers(fresh_sandbox: RunningSandbox) -> None:
    fresh_sandbox.control("faults", {"jira": {"quota": True, "requests_per_second": 0.01, "burst": 2}})
    try:
        with _client(fresh_sandbox) as client:
            statuses = [client.get("/rest/api/3/myself") for _ in range(3)]
    finally:
        fresh_sandbox.control("reset")
    assert [r.status_code for r in statuses] == [200, 200, 429]
    limited = statuses[-1]
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["RateLimit-Reason"] == "jira-burst-based"
    assert "X-RateLimit-Reset" in limited.headers


def test_page_tokens_survive_edits_made_during_a_crawl(fresh_sandbox: RunningSandbox) -> None:
    with _client(fresh_sandbox) as client:
        jql = f"{_all_jql(client)} {ORDER}"
        before = [i["id"] for i in _search_all(client, jql, maxResults=5000)]
        first = client.get("/rest/api/3/search/jql", params={"jql": jql, "maxResults": 10}).json()
        fresh_sandbox.control("clock", {"advance_seconds": 60})
        moved = fresh_sandbox.control("jira/edit_issue", {"key": "ENG-1"})
        rest = _search_all(client, jql, maxResults=10, nextPageToken=first["nextPageToken"])
    seen = [i["id"] for i in first["issues"]] + [i["id"] for i in rest]
    assert set(seen) == set(before)  # nothing skipped; the edited issue comes again at the end
    assert seen[-1] == moved["ids"][0]


def test_project_clause_takes_ids_and_names_and_comments_can_be_posted(fresh_sandbox: RunningSandbox) -> None:
    with _client(fresh_sandbox) as client:
        by_key = client.get("/rest/api/3/search/jql", params={"jql": "project = ENG", "maxResults": 100}).json()
        by_id = client.get("/rest/api/3/search/jql", params={"jql": "project = 10000", "maxResults": 100}).json()
        by_name = client.post("/rest/api/3/search/jql", json={"jql": 'project = "Engineering"', "maxResults": 100})
        body = {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}],
        }
        posted = client.post("/rest/api/3/issue/ENG-2/comment", json={"body": body})
        listed = client.get("/rest/api/3/issue/ENG-2/comment", params={"orderBy": "-created", "maxResults": 1}).json()
    assert by_key["issues"] == by_id["issues"] == by_name.json()["issues"]
    assert posted.status_code == 201 and listed["comments"][0]["id"] == posted.json()["id"]
    assert listed["comments"][0]["body"] == body
