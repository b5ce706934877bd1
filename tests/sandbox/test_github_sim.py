"""GitHub simulator over real HTTP: contract (vendor OpenAPI schemas), quirks, limits, determinism, control."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from sandbox.server import RunningSandbox, start_sandbox

SPEC = Path(__file__).parents[1] / "specs" / "github" / "api.github.com.trimmed.json"


def _nullable_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` means "or null"; JSON Schema needs it spelled out."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@pytest.fixture(scope="module")
def schema():
    spec = _nullable_to_json_schema(json.loads(SPEC.read_text()))
    registry = Registry().with_resource("urn:gh", Resource.from_contents(spec, default_specification=DRAFT202012))

    def validator(name: str) -> Draft202012Validator:
        return Draft202012Validator(
            {"type": "array", "items": {"$ref": f"urn:gh#/components/schemas/{name}"}}, registry=registry
        )

    return validator


def _client(sb: RunningSandbox) -> httpx.Client:
    return httpx.Client(
        base_url=sb.env["GITHUB_API_URL"],
        timeout=10.0,
        headers={
            "Authorization": f"Bearer {sb.env['GITHUB_TOKEN']}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
    )


@pytest.mark.parametrize(
    ("path", "params", "schema_name"),
    [
        ("/repos/acme/api/issues", {"state": "all", "per_page": 50}, "issue"),
        ("/repos/acme/api/pulls", {"state": "all"}, "pull-request-simple"),
        ("/repos/acme/api/commits", {}, "commit"),
        ("/repos/acme/api/issues/comments", {}, "issue-comment"),
        ("/repos/acme/web/issues/3/comments", {}, "issue-comment"),
        ("/orgs/acme/repos", {}, "minimal-repository"),
        ("/user/repos", {}, "repository"),
    ],
)
def test_responses_match_the_vendor_schema(sandbox, schema, path, params, schema_name) -> None:
    with _client(sandbox) as client:
        response = client.get(path, params=params)
    assert response.status_code == 200
    schema(schema_name).validate(response.json())
    assert response.headers["x-ratelimit-resource"] == "core"


def test_issues_endpoint_returns_pull_requests_too(sandbox) -> None:
    with _client(sandbox) as client:
        issues = client.get("/repos/acme/api/issues", params={"state": "all", "per_page": 100}).json()
        pulls = client.get("/repos/acme/api/pulls", params={"state": "all", "per_page": 100}).json()
    in_issues = {i["number"] for i in issues if "pull_request" in i}
    assert in_issues and in_issues <= {p["number"] for p in pulls}
    assert any("pull_request" not in i for i in issues)


def test_link_header_pagination_reaches_every_item_once(sandbox) -> None:
    numbers: list[int] = []
    with _client(sandbox) as client:
        url: str | None = "/repos/acme/api/issues?state=all&per_page=7"
        while url:
            response = client.get(url)
            numbers += [i["number"] for i in response.json()]
            url = response.links.get("next", {}).get("url")
        total = len(client.get("/repos/acme/api/issues", params={"state": "all", "per_page": 100}).json())
    assert sorted(numbers) == list(range(1, total + 1))


def test_etag_gives_304_that_costs_no_quota(sandbox) -> None:
    with _client(sandbox) as client:
        first = client.get("/repos/acme/api/commits")
        again = client.get("/repos/acme/api/commits", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["x-ratelimit-remaining"] == first.headers["x-ratelimit-remaining"]


def test_primary_limit_answers_403_with_remaining_zero() -> None:
    with start_sandbox(seed=42, scale=0.01, overrides={"github": {"primary_limit": 3}}) as sb, _client(sb) as c:
        statuses = [c.get("/orgs/acme/repos").status_code for _ in range(3)]
        refused = c.get("/orgs/acme/repos")
    assert statuses == [200, 200, 200]
    assert refused.status_code == 403
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert "API rate limit exceeded" in refused.json()["message"]


def test_secondary_limit_answers_403_with_retry_after() -> None:
    overrides = {"github": {"quota": True, "requests_per_second": 0.01, "burst": 1}}
    with start_sandbox(seed=42, scale=0.01, overrides=overrides) as sb, _client(sb) as c:
        ok = c.get("/orgs/acme/repos")
        refused = c.get("/orgs/acme/repos")
    assert ok.status_code == 200
    assert refused.status_code == 403
    assert int(refused.headers["retry-after"]) >= 1
    assert "secondary rate limit" in refused.json()["message"]


def test_errors_in_github_style(sandbox) -> None:
    with _client(sandbox) as client:
        bad_version = client.get("/orgs/acme/repos", headers={"X-GitHub-Api-Version": "1999-01-01"})
        missing = client.get("/repos/acme/nope/issues")
        bad_token = client.get("/orgs/acme/repos", headers={"Authorization": "Bearer nope"})
    assert bad_version.status_code == 400
    assert missing.status_code == 404 and missing.json()["message"] == "Not Found"
    assert bad_token.status_code == 401 and bad_token.json()["message"] == "Bad credentials"


def test_same_seed_gives_identical_bytes() -> None:
    paths = [
        "/orgs/acme/repos",
        "/repos/acme/api/issues?state=all&per_page=100",
        "/repos/acme/web/commits",
        "/repos/acme/infra/issues/comments",
    ]
    bodies = []
    for _ in range(2):
        with start_sandbox(seed=7, scale=0.01) as sb, _client(sb) as client:
            bodies.append([client.get(p).content for p in paths])
    assert bodies[0] == bodies[1]


def test_control_edits_show_up_through_since(fresh_sandbox) -> None:
    fresh_sandbox.control("clock", {"advance_seconds": 3600})
    edited = fresh_sandbox.control("github/edit_issue", {"repo": "api", "number": 4})
    added = fresh_sandbox.control("github/add_issue", {"repo": "api", "pull_request": True})
    commented = fresh_sandbox.control("github/comment", {"repo": "api", "number": 5})
    with _client(fresh_sandbox) as client:
        changed = client.get("/repos/acme/api/issues", params={"state": "all", "since": edited["updated_at"]}).json()
        comments = client.get("/repos/acme/api/issues/5/comments").json()
        fresh_sandbox.control("github/auth", {"fail": True})
        refused = client.get("/orgs/acme/repos")
    assert {i["number"] for i in changed} == {4, added["number"], 5}
    assert comments[-1]["id"] == commented["comment_id"]
    assert refused.status_code == 401
