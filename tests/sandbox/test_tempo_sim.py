"""The Tempo sandbox over real HTTP: Tempo's v4 shapes, offset paging with ``next`` URLs, ids without keys."""

from __future__ import annotations

from typing import Any

import httpx

from sandbox.server import RunningSandbox

SPEC = "tempo/tempo-v4.trimmed.oas.yaml"
WIDE = {"from": "2000-01-01", "to": "2100-01-01"}


def _client(sb: RunningSandbox) -> httpx.Client:
    return httpx.Client(
        base_url=sb.env["TEMPO_API_URL"], timeout=30, headers={"Authorization": f"Bearer {sb.env['TEMPO_API_TOKEN']}"}
    )


def _follow(client: httpx.Client, params: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every result and every metadata block, following ``metadata.next`` until it is absent."""
    response = client.get("/4/worklogs", params=params)
    results, metas = [], []
    for _ in range(500):
        response.raise_for_status()
        body = response.json()
        results += body["results"]
        metas.append(body["metadata"])
        if "next" not in body["metadata"]:
            return results, metas
        response = client.get(body["metadata"]["next"])
    raise AssertionError("paging never ended")


def test_worklogs_match_the_vendor_schema(sandbox: RunningSandbox, vendor_schema: Any) -> None:
    with _client(sandbox) as client:
        body = client.get("/4/worklogs", params={**WIDE, "limit": 10}).json()
        searched = client.post(
            "/4/worklogs/search", params={"limit": 10}, json={**WIDE, "orderBy": [{"field": "UPDATED", "order": "ASC"}]}
        ).json()
    vendor_schema(SPEC, "PageableWorklog").validate(body)
    vendor_schema(SPEC, "PageableWorklog").validate(searched)
    assert body["metadata"] == {"count": 10, "offset": 0, "limit": 10, "next": body["metadata"]["next"]}
    updated = [w["updatedAt"] for w in searched["results"]]
    assert updated == sorted(updated)


def test_results_carry_issue_ids_only_never_keys(sandbox: RunningSandbox) -> None:
    with _client(sandbox) as client:
        results, _ = _follow(client, {**WIDE, "limit": 1000})
    assert results
    for worklog in results:
        assert set(worklog["issue"]) == {"id", "self"}
        assert isinstance(worklog["issue"]["id"], int)
        assert "key" not in worklog["issue"] and "jiraWorklogId" not in worklog


def test_next_is_a_full_url_and_absent_on_the_last_page(sandbox: RunningSandbox) -> None:
    with _client(sandbox) as client:
        results, metas = _follow(client, {**WIDE, "limit": 37})
        everything = client.get("/4/worklogs", params={**WIDE, "limit": 5000}).json()
    assert all(m["next"].startswith(sandbox.env["TEMPO_API_URL"]) for m in metas[:-1])
    assert "next" not in metas[-1] and len(metas) > 1
    ids = [w["tempoWorklogId"] for w in results]
    assert len(ids) == len(set(ids)) == everything["metadata"]["count"] == 120
    starts = [(w["startDate"], w["startTime"], w["tempoWorklogId"]) for w in results]
    assert starts == sorted(starts)  # default order: START_DATE_TIME, then ID, ascending


def test_from_and_to_filter_work_dates_so_a_backdated_edit_needs_a_wide_window(fresh_sandbox: RunningSandbox) -> None:
    edit = fresh_sandbox.control("tempo/backdate_worklog_edit", {})
    added = fresh_sandbox.control("tempo/add_worklog", {})
    now = fresh_sandbox.control("counters")["now"][:10]
    with _client(fresh_sandbox) as client:
        narrow, _ = _follow(client, {"from": now, "to": now, "updatedFrom": now})
        wide, _ = _follow(client, {**WIDE, "updatedFrom": now})
    assert {w["tempoWorklogId"] for w in narrow} == {added["id"]}
    assert {w["tempoWorklogId"] for w in wide} == {added["id"], edit["id"]}
    changed = next(w for w in wide if w["tempoWorklogId"] == edit["id"])
    assert changed["startDate"] == edit["startDate"] < now <= changed["updatedAt"][:10]


def test_bad_dates_and_bad_tokens_answer_in_tempo_style(fresh_sandbox: RunningSandbox) -> None:
    with _client(fresh_sandbox) as client:
        bad = client.get("/4/worklogs", params={"from": "01/02/2025"})
    assert bad.status_code == 400 and "yyyy-MM-dd" in bad.json()["errors"]["message"]
    denied = httpx.get(fresh_sandbox.env["TEMPO_API_URL"] + "/4/worklogs", headers={"Authorization": "Bearer nope"})
    assert denied.status_code == 401 and denied.headers["content-type"].startswith("text/html")


def test_quota_answers_429_in_tempo_style(fresh_sandbox: RunningSandbox) -> None:
    fresh_sandbox.control("faults", {"tempo": {"quota": True, "requests_per_second": 0.01, "burst": 2}})
    try:
        with _client(fresh_sandbox) as client:
            responses = [client.get("/4/worklogs", params={"limit": 1}) for _ in range(3)]
    finally:
        fresh_sandbox.control("reset")
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[-1].json()["errors"]["message"]
