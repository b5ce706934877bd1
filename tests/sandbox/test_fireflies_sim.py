"""The Fireflies sandbox over real HTTP: queries valid against the vendor SDL, results shaped by it, errors on 200."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    build_schema,
    parse,
    validate,
)

from sandbox.server import RunningSandbox

_SDL_NAME = "fireflies/fireflies-public-api.schema.graphql"
# The vendor's SDL, looked up like conftest's ``vendor_schema`` looks up specs.
_SPEC_DIRS = (
    os.environ.get("BACKFILL_SPECS_DIR", ""),
    str(Path(__file__).parents[1] / "specs"),
)
LIST = """query Page($limit: Int, $skip: Int, $fromDate: DateTime, $toDate: DateTime) {
  transcripts(limit: $limit, skip: $skip, fromDate: $fromDate, toDate: $toDate) {
    id title date dateString duration organizer_email participants transcript_url is_live
    speakers { id name } meeting_attendees { displayName email } channels { id }
    meeting_info { summary_status }
    sentences { index speaker_id speaker_name text raw_text start_time end_time ai_filters { sentiment } }
    summary { overview action_items keywords shorthand_bullet gist outline topics_discussed }
  }
}"""
ONE = "query One($id: String!) { transcript(id: $id) { id title sentences { text } summary { overview } } }"
_SCALARS = {"String": str, "ID": str, "Int": int, "Float": (int, float), "Boolean": bool, "DateTime": str}


def _schema() -> Any:
    path = next(Path(d) / _SDL_NAME for d in _SPEC_DIRS if d and (Path(d) / _SDL_NAME).is_file())
    return build_schema(path.read_text(encoding="utf-8"))


def _check(kind: GraphQLOutputType, value: Any, path: str) -> None:
    """Assert ``value`` is a valid result for the SDL type ``kind`` (nullability, lists, scalars, enums)."""
    if isinstance(kind, GraphQLNonNull):
        assert value is not None, f"{path} is null but non-null in the SDL"
        _check(kind.of_type, value, path)
    elif value is None:
        return
    elif isinstance(kind, GraphQLList):
        assert isinstance(value, list), path
        for n, item in enumerate(value):
            _check(kind.of_type, item, f"{path}[{n}]")
    elif isinstance(kind, GraphQLScalarType):
        assert isinstance(value, _SCALARS[kind.name]) and not (kind.name != "Boolean" and isinstance(value, bool)), path
    elif isinstance(kind, GraphQLEnumType):
        assert value in kind.values, path
    elif isinstance(kind, GraphQLObjectType):
        assert isinstance(value, dict), path
        for name, item in value.items():
            assert name in kind.fields, f"{path}.{name} is not in the SDL"
            _check(kind.fields[name].type, item, f"{path}.{name}")


def _post(sb: RunningSandbox, query: str, variables: dict[str, Any], key: str | None = None) -> httpx.Response:
    token = key if key is not None else sb.env["FIREFLIES_API_KEY"]
    return httpx.post(
        sb.env["FIREFLIES_API_URL"],
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_queries_are_valid_and_results_match_the_sdl(sandbox: RunningSandbox) -> None:
    schema = _schema()
    assert validate(schema, parse(LIST)) == [] and validate(schema, parse(ONE)) == []
    page = _post(sandbox, LIST, {"limit": 5})
    assert page.status_code == 200 and "errors" not in page.json()
    transcripts = page.json()["data"]["transcripts"]
    assert len(transcripts) == 5
    _check(schema.query_type.fields["transcripts"].type, transcripts, "transcripts")
    one = _post(sandbox, ONE, {"id": transcripts[0]["id"]}).json()
    _check(schema.query_type.fields["transcript"].type, one["data"]["transcript"], "transcript")
    assert one["data"]["transcript"]["title"] == transcripts[0]["title"]


def test_skip_pages_newest_first_and_date_windows_filter(sandbox: RunningSandbox) -> None:
    seen: list[dict[str, Any]] = []
    for skip in range(0, 100, 4):
        page = _post(sandbox, LIST, {"limit": 4, "skip": skip}).json()["data"]["transcripts"]
        seen += page
        if len(page) < 4:
            break
    dates = [t["date"] for t in seen]
    assert len({t["id"] for t in seen}) == len(seen) == 12 and dates == sorted(dates, reverse=True)
    middle = seen[5]["dateString"]
    window = _post(sandbox, LIST, {"limit": 50, "toDate": middle}).json()["data"]["transcripts"]
    assert [t["id"] for t in window] == [t["id"] for t in seen[5:]]


def test_processing_transcripts_have_no_sentences_and_an_empty_summary(sandbox: RunningSandbox) -> None:
    transcripts = _post(sandbox, LIST, {"limit": 50}).json()["data"]["transcripts"]
    processing = [t for t in transcripts if t["meeting_info"]["summary_status"] == "processing"]
    done = [t for t in transcripts if t["meeting_info"]["summary_status"] == "processed"]
    assert processing and done
    assert all(t["sentences"] is None and t["summary"]["overview"] == "" for t in processing)
    assert all(t["sentences"] and t["summary"]["overview"] for t in done)


def test_errors_come_with_http_200(fresh_sandbox: RunningSandbox) -> None:
    too_many = _post(fresh_sandbox, LIST, {"limit": 51})
    missing = _post(fresh_sandbox, ONE, {"id": "01NOPE"})
    bad_key = _post(fresh_sandbox, LIST, {"limit": 1}, key="wrong")
    assert too_many.status_code == missing.status_code == bad_key.status_code == 200
    limit_error = too_many.json()["errors"][0]
    assert limit_error["code"] == limit_error["extensions"]["code"] == "invalid_arguments"
    assert (
        limit_error["extensions"]["metadata"]["fields"] == ["limit"] and too_many.json()["data"]["transcripts"] is None
    )
    assert missing.json()["errors"][0]["extensions"]["helpUrls"]
    assert missing.json()["errors"][0]["code"] == "object_not_found" and missing.json()["data"]["transcript"] is None
    assert bad_key.json()["errors"][0]["extensions"]["status"] == 401 and bad_key.json()["data"] is None


def test_added_transcript_appears_first(fresh_sandbox: RunningSandbox) -> None:
    fresh_sandbox.control("clock", {"advance_seconds": 600})
    added = fresh_sandbox.control("fireflies/add_transcript", {"processing": True})
    newest = _post(fresh_sandbox, LIST, {"limit": 1}).json()["data"]["transcripts"][0]
    assert newest["id"] == added["id"] and newest["sentences"] is None
    finished = fresh_sandbox.control("fireflies/finish_processing", {"id": added["id"]})
    assert finished["ids"] == [added["id"]]
    assert _post(fresh_sandbox, LIST, {"limit": 1}).json()["data"]["transcripts"][0]["sentences"]


def test_quota_answers_too_many_requests_in_fireflies_style(fresh_sandbox: RunningSandbox) -> None:
    fresh_sandbox.control("faults", {"fireflies": {"quota": True, "requests_per_second": 0.01, "burst": 2}})
    try:
        responses = [_post(fresh_sandbox, ONE, {"id": "x"}) for _ in range(3)]
    finally:
        fresh_sandbox.control("reset")
    limited = responses[-1]
    assert limited.status_code == 200 and limited.json()["data"] is None
    error = limited.json()["errors"][0]
    assert error["code"] == "too_many_requests" and error["extensions"]["status"] == 429
    assert "retry after" in error["message"]
