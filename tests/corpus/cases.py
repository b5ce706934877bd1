"""The bad-input table: (name, api, canned responses, expected outcome, expected ids, extra check).

Outcomes (DESIGN.md, "Failure policy"):

- ``ingested`` — the bad partition's records land as documents (exactly ``ids``), with no failure and no error.
- ``failure``  — the broken record(s) are ``FetchFailure``s named by id (exactly ``failed``, each with a reason),
  every other record of the partition lands (exactly ``ids``), and the failed ids are absent from the store.
- ``error``    — the whole response is unusable: fetching the partition raises ``error`` (a ConnectorError) whose
  message names the source, the endpoint and the partition; nothing of that partition is ingested.

In every outcome the other partitions (served by the sandbox) land in full and the store verifies. A case whose
canned responses are not all consumed fails: it did not test what it says.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from connectors.base import FetchFailure, Partition
from connectors.errors import AuthError, ConnectorError, MalformedResponseError, PaginationError, RejectedRequestError
from connectors.http import RetryPolicy
from connectors.jira_mapping import failure_id
from connectors.slack import SlackApiError
from connectors.tempo import failure_id as tempo_failure_id
from ingest.document import Document
from tests.corpus.canned import Canned, as_json, ok
from tests.corpus.sources import (
    HISTORY,
    NOTION_SEARCH,
    SEARCH,
    SLACK_CHANNEL_ID,
    SLACK_DAY,
    SLACK_USER,
    WORKLOGS,
    adf,
    comment,
    comment_page,
    drop,
    edit,
    history,
    issue,
    jira_id,
    message,
    notion_block,
    notion_children,
    notion_id,
    notion_page,
    notion_rich,
    notion_search,
    search,
    search_page,
    slack_error,
    worklog,
    worklogs,
)

__all__ = ["CASES", "Case", "Ran"]

Outcome = Literal["ingested", "failure", "error"]
MALFORMED = RetryPolicy().malformed_attempts  # an HTML or cut body is retried this often before it fails


@dataclass
class Ran:
    """What one case produced, for its extra check."""

    partitions: list[Partition]
    docs: list[Document]  # from the bad partition (before a raise, if it raised)
    failures: list[FetchFailure]
    error: ConnectorError | None
    counters: dict[str, int]  # sandbox request counters ("jira GET /rest/api/3/…" → n)
    chunks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # stored doc id → chunk metadata, in order

    def doc(self, doc_id: str) -> Document:
        """The last copy of ``doc_id`` the bad partition yielded (the newest, for a duplicated record)."""
        copies = [d for d in self.docs if d.id == doc_id]
        assert copies, f"{doc_id} was not fetched"
        return copies[-1]

    def stored_text(self, doc_id: str) -> str:
        return "\n".join(str(meta["text"]) for meta in self.chunks[doc_id])


Check = Callable[[Ran], None]


@dataclass(frozen=True)
class Case:
    name: str
    api: str
    responses: tuple[Canned, ...]
    outcome: Outcome
    ids: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()
    error: type[ConnectorError] | None = None
    check: Check | None = None
    xfail: str | None = None  # a known gap outside this package's reach: strict xfail naming the owner

    def __str__(self) -> str:
        return self.name


def _case(
    name: str,
    api: str,
    responses: list[Canned] | Canned,
    outcome: Outcome,
    *,
    ids: Iterable[str] = (),
    failed: Iterable[str] = (),
    error: type[ConnectorError] | None = None,
    check: Check | None = None,
    xfail: str | None = None,
) -> Case:
    listed = tuple(responses) if isinstance(responses, list) else (responses,)
    return Case(name, api, listed, outcome, frozenset(ids), frozenset(failed), error, check, xfail)


def j(n: int) -> str:
    return f"jira:{jira_id(n)}"


def t(n: int) -> str:
    return f"tempo:{880_000 + n}"


# -- raw bodies --------------------------------------------------------------------------------------------

HTML = (
    b"<!DOCTYPE html><html><head><title>Atlassian - Maintenance</title></head>"
    b"<body><h1>We'll be back soon</h1></body></html>"
)


def html(path: str) -> Canned:
    return Canned(path, HTML, content_type="text/html; charset=utf-8", times=MALFORMED)


def truncated(path: str, value: Any) -> Canned:
    body = as_json(value)
    return Canned(path, body[: len(body) // 2], times=MALFORMED)


def raw(path: str, body: bytes, **kwargs: Any) -> Canned:
    return Canned(path, body, **kwargs)


def with_bytes(value: Any, marker: str, replacement: bytes) -> bytes:
    """``value`` as JSON with the text ``marker`` replaced by raw bytes (invalid UTF-8, a raw control byte)."""
    return as_json(value).replace(marker.encode(), replacement)


def deep_adf(depth: int, kinds: tuple[str, ...] = ("blockquote", "panel", "expand")) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "paragraph", "content": [{"type": "text", "text": "the bottom of the well"}]}
    for level in range(depth):
        node = {"type": kinds[level % len(kinds)], "content": [node]}
    return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [_txt("top")]}, node]}


def deep_adf_json(depth: int) -> bytes:
    """A search page holding a ``depth``-level ADF description, serialised by hand (json.dumps would recurse)."""
    inner = '{"type":"paragraph","content":[{"type":"text","text":"the bottom of the well"}]}'
    body = '{"type":"blockquote","content":[' * depth + inner + "]}" * depth
    description = '{"type":"doc","version":1,"content":[' + body + "]}"
    page = json.dumps(search_page([issue(1, description="@@DESC@@")]))
    return page.replace('"@@DESC@@"', description).encode()


def _txt(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


# -- extra checks ------------------------------------------------------------------------------------------


def _title_has(doc_id: str, *needles: str, absent: tuple[str, ...] = ()) -> Check:
    def check(ran: Ran) -> None:
        title = ran.doc(doc_id).title
        for needle in needles:
            assert needle in title, (needle, title)
        for needle in absent:
            assert needle not in title, (needle, title)
        stored = ran.chunks[doc_id][0]["title"]
        assert stored == title

    return check


def _text_has(doc_id: str, *needles: str, absent: tuple[str, ...] = ()) -> Check:
    def check(ran: Ran) -> None:
        text = ran.doc(doc_id).text
        stored = ran.stored_text(doc_id)
        for needle in needles:
            assert needle in text and needle in stored, needle
        for needle in absent:
            assert needle not in text and needle not in stored, needle

    return check


def _stored_has(doc_id: str, *needles: str) -> Check:
    def check(ran: Ran) -> None:
        stored = ran.stored_text(doc_id)
        for needle in needles:
            assert needle in stored, needle

    return check


def _all(*checks: Check) -> Check:
    def check(ran: Ran) -> None:
        for each in checks:
            each(ran)

    return check


def _reasons_name(*needles: str) -> Check:
    def check(ran: Ran) -> None:
        for failure in ran.failures:
            assert any(n in failure.reason for n in needles), failure

    return check


def _no_request(fragment: str) -> Check:
    def check(ran: Ran) -> None:
        sent = [key for key in ran.counters if fragment in key]
        assert not sent, sent

    return check


def _thousands_of_comments(ran: Ran) -> None:
    doc = ran.doc(j(1))
    assert doc.metadata["comment_count"] == 10_000
    for i in (0, 1, 99, 100, 5_000, 9_998, 9_999):
        assert f"comment number {i}\n" in doc.text + "\n", i
    assert doc.text.count("comment number ") == 10_000
    assert ran.counters.get(f"jira GET /rest/api/3/issue/{jira_id(1)}/comment") == 100
    assert "comment number 9999" in ran.stored_text(j(1))


def _small_chunks(doc_id: str, max_chunks: int) -> Check:
    def check(ran: Ran) -> None:
        assert len(ran.chunks[doc_id]) <= max_chunks, len(ran.chunks[doc_id])
        assert all(len(str(m["text"]).encode()) < 40_000 for m in ran.chunks[doc_id])

    return check


def _megabyte(ran: Ran) -> None:
    doc = ran.doc(j(1))
    assert len(doc.text) > 1_000_000
    chunks = ran.chunks[j(1)]
    assert len(chunks) > 100 and all(m["chunk_count"] == len(chunks) for m in chunks)
    assert "paragraph 0 of a megabyte" in chunks[0]["text"] and "paragraph 7999 of a megabyte" in chunks[-1]["text"]


def _url_is(doc_id: str, url_tail: str) -> Check:
    def check(ran: Ran) -> None:
        assert ran.doc(doc_id).url.endswith(url_tail), ran.doc(doc_id).url
        assert ran.chunks[doc_id][0]["url"] == ran.doc(doc_id).url

    return check


def _failure_has_time(expected: bool) -> Check:
    def check(ran: Ran) -> None:
        assert all((f.updated_at is not None) == expected for f in ran.failures), ran.failures

    return check


# -- Jira --------------------------------------------------------------------------------------------------


_good = issue(1)
_bad = issue(2)
_no_id_no_key = drop(drop(issue(2), "id"), "key")
_nested = deep_adf(300)
_unknown = {
    "type": "doc",
    "version": 1,
    "content": [
        {"type": "futureWidget", "attrs": {"x": 1}, "content": [{"type": "paragraph", "content": [_txt("inside")]}]},
        {"type": "sparkle", "text": "no content, no text"},
        {"type": "paragraph", "content": [_txt("before "), {"type": "holoMention", "attrs": {}}, _txt(" after")]},
        {"type": "layoutSection", "content": [{"type": "layoutColumn", "content": [adf("in a column")["content"][0]]}]},
    ],
}
_megabyte_description = adf(*[f"paragraph {i} of a megabyte: " + "lorem ipsum dolor sit " * 5 for i in range(8000)])
_ten_thousand = [comment(i) for i in range(10_000)]

JIRA_CASES = [
    _case("jira_html_200", "jira", html(SEARCH), "error", error=MalformedResponseError),
    _case("jira_truncated_json", "jira", truncated(SEARCH, search_page([_good, _bad])), "error",
          error=MalformedResponseError),
    _case("jira_array_not_object", "jira", raw(SEARCH, as_json([_good]), times=MALFORMED), "error",
          error=MalformedResponseError),
    _case("jira_issues_is_a_string", "jira", raw(SEARCH, as_json({"issues": "x", "isLast": True})), "error",
          error=MalformedResponseError),
    _case("jira_issues_hold_a_non_object", "jira", search([_good, "x"]), "error", error=MalformedResponseError),
    _case("jira_raw_nul_byte", "jira", raw(SEARCH, with_bytes(search_page([_good]), "Corpus issue 1", b"Cor\x00pus"),
          times=MALFORMED), "error", error=MalformedResponseError),
    _case("jira_fields_null", "jira", search([_good, edit(_bad, "fields", None)]), "failure",
          ids=[j(1)], failed=[j(2)], check=_reasons_name("unmappable issue")),
    _case("jira_no_fields", "jira", search([_good, drop(_bad, "fields")]), "failure", ids=[j(1)], failed=[j(2)]),
    _case("jira_updated_is_a_number", "jira", search([_good, edit(_bad, "fields.updated", 12345)]), "failure",
          ids=[j(1)], failed=[j(2)]),
    _case("jira_id_is_a_number", "jira", search([edit(_good, "id", 990_001)]), "ingested", ids=[j(1)]),
    _case("jira_no_key", "jira", search([_good, drop(_bad, "key")]), "failure", ids=[j(1)], failed=[j(2)]),
    _case("jira_no_id", "jira", search([_good, drop(_bad, "id")]), "failure", ids=[j(1)], failed=["jira:ENG-9002"]),
    _case("jira_no_id_no_key", "jira", search([_good, _no_id_no_key]), "failure", ids=[j(1)],
          failed=[failure_id(_no_id_no_key)]),
    _case("jira_id_with_slash_query_hash", "jira",
          search([_good, edit(edit(_bad, "id", "1/../2?x=3#4"), "fields.comment.total", 150)]), "failure",
          ids=[j(1)], failed=["jira:ENG-9002"], check=_no_request("GET /rest/api/3/issue/")),
    _case("jira_key_with_slash_query_hash", "jira", search([edit(_good, "key", "ENG-1/../x?y=2#z")]), "ingested",
          ids=[j(1)], check=_url_is(j(1), "/browse/ENG-1%2F..%2Fx%3Fy%3D2%23z")),
    _case("jira_timestamp_without_offset", "jira",
          search([_good, edit(_bad, "fields.updated", "2026-01-01T10:00:00.000")]), "failure",
          ids=[j(1)], failed=[j(2)], check=_reasons_name("no offset")),
    _case("jira_is_last_false_without_token", "jira", search([_good], is_last=False), "error", error=PaginationError),
    _case("jira_repeated_next_page_token", "jira",
          [search([_good], token="tok-1"), search([_bad], token="tok-1")], "error", error=PaginationError),
    _case("jira_comment_page_empty_before_total", "jira",
          [search([_good, issue(2, comments=[comment(0)], comment_total=250)]),
           comment_page(jira_id(2), 0, [comment(i) for i in range(100)], 250),
           comment_page(jira_id(2), 100, [], 250)], "error", error=PaginationError),
    _case("jira_duplicate_across_pages", "jira",
          [search([_good, _bad], token="p2"),
           search([edit(issue(2, summary="Corpus issue 2, edited", updated="2026-06-16T10:00:00.000+0000"),
                        "id", 990_002)])],
          "ingested", ids=[j(1), j(2)], check=_title_has(j(2), "edited")),
    _case("jira_empty_and_is_last", "jira", search([]), "ingested"),
    _case("jira_invalid_utf8", "jira",
          raw(SEARCH, with_bytes(search_page([_good]), "Corpus issue 1", b"Corpus \xff\xfe\xc3( 1")),
          "ingested", ids=[j(1)], check=_title_has(j(1), "Corpus \ufffd\ufffd\ufffd( 1")),
    _case("jira_lone_surrogate_summary", "jira", search([issue(1, summary="half an emoji \ud83d here")]), "ingested",
          ids=[j(1)], check=_title_has(j(1), "half an emoji \ufffd here", absent=("\ud83d",))),
    _case("jira_lone_surrogate_description", "jira", search([issue(1, description=adf("cut \udc00 off \ud83d"))]),
          "ingested", ids=[j(1)], check=_text_has(j(1), "cut \ufffd off \ufffd")),
    _case("jira_lone_surrogate_comment", "jira", search([issue(1, comments=[comment(0, "broken \ud83d emoji")])]),
          "ingested", ids=[j(1)], check=_text_has(j(1), "broken \ufffd emoji")),
    _case("jira_nul_characters", "jira",
          search([issue(1, summary="nul\x00in summary", description=adf("nul\x00\x00in text"))]), "ingested",
          ids=[j(1)], check=_all(_title_has(j(1), "nulin summary"), _text_has(j(1), "nulin text", absent=("\x00",)))),
    _case("jira_200k_spaces", "jira", search([issue(1, description=adf("Start." + " " * 200_000 + "End."))]),
          "ingested", ids=[j(1)], check=_all(_stored_has(j(1), "Start. End."), _small_chunks(j(1), 1))),
    _case("jira_zero_width_and_rtl", "jira",
          search([issue(
              1, summary="zero\u200bwidth \u202eRTL\u202c \u200f",
              description=adf("a\u2067b\u2069\ufeffc"))]),
          "ingested", ids=[j(1)],
          check=_all(_title_has(j(1), "zero\u200bwidth \u202eRTL\u202c"), _text_has(j(1), "a\u2067b\u2069\ufeffc"))),
    _case("jira_10000_comments", "jira",
          [search([issue(1, comments=_ten_thousand[:100], comment_total=10_000)]),
           *[comment_page(jira_id(1), start, _ten_thousand[start : start + 100], 10_000)
             for start in range(0, 10_000, 100)]],
          "ingested", ids=[j(1)], check=_thousands_of_comments),
    _case("jira_1mb_description", "jira", search([issue(1, description=_megabyte_description)]), "ingested",
          ids=[j(1)], check=_megabyte),
    _case("jira_adf_nested_300", "jira", search([issue(1, description=_nested)]), "ingested", ids=[j(1)],
          check=_text_has(j(1), "top", "the bottom of the well")),
    _case("jira_adf_nested_500", "jira", raw(SEARCH, deep_adf_json(500), times=MALFORMED), "error",
          error=MalformedResponseError),
    _case("jira_adf_unknown_nodes", "jira", search([issue(1, description=_unknown)]), "ingested", ids=[j(1)],
          check=_text_has(j(1), "inside", "before ", " after", "in a column")),
]  # fmt: skip

# -- Tempo -------------------------------------------------------------------------------------------------

_w1 = worklog(1)
_w2 = worklog(2)


def _without(raw: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k != name}


TEMPO_CASES = [
    _case("tempo_html_200", "tempo", html(WORKLOGS), "error", error=MalformedResponseError),
    _case("tempo_truncated_json", "tempo", truncated(WORKLOGS, {"metadata": {}, "results": [_w1, _w2]}), "error",
          error=MalformedResponseError),
    _case("tempo_array_not_object", "tempo", raw(WORKLOGS, as_json([_w1]), times=MALFORMED), "error",
          error=MalformedResponseError),
    _case("tempo_results_is_a_string", "tempo", raw(WORKLOGS, as_json({"metadata": {}, "results": "x"})), "error",
          error=MalformedResponseError),
    _case("tempo_time_spent_not_a_number", "tempo", worklogs([_w1, worklog(2, timeSpentSeconds="n/a")]), "failure",
          ids=[t(1)], failed=[t(2)], check=_all(_reasons_name("unmappable worklog"), _failure_has_time(True))),
    _case("tempo_no_issue", "tempo", worklogs([_w1, _without(_w2, "issue")]), "failure", ids=[t(1)], failed=[t(2)]),
    _case("tempo_issue_null", "tempo", worklogs([_w1, worklog(2, issue=None)]), "failure", ids=[t(1)], failed=[t(2)]),
    _case("tempo_no_updated_at", "tempo", worklogs([_w1, _without(_w2, "updatedAt")]), "failure", ids=[t(1)],
          failed=[t(2)], check=_failure_has_time(False)),
    _case("tempo_no_id", "tempo",
          worklogs([_w1, _without(_w2, "tempoWorklogId"), _without(worklog(3, description="other"), "tempoWorklogId")]),
          "failure", ids=[t(1)],
          failed=[tempo_failure_id(_without(w, "tempoWorklogId")) for w in (_w2, worklog(3, description="other"))]),
    _case("tempo_id_is_a_string", "tempo", worklogs([worklog(1, tempoWorklogId="880001")]), "ingested", ids=[t(1)]),
    _case("tempo_timestamp_without_offset", "tempo", worklogs([_w1, worklog(2, updatedAt="2026-06-15T10:31:00.000")]),
          "failure", ids=[t(1)], failed=[t(2)], check=_reasons_name("no offset")),
    _case("tempo_next_on_another_host", "tempo",
          worklogs([_w1], next_url="https://tempo.evil.example/4/worklogs?offset=1"), "error",
          error=MalformedResponseError),
    _case("tempo_duplicate_across_pages", "tempo",
          [worklogs([_w1, _w2], next_offset=2), worklogs([worklog(2, description="edited")], offset=2)],
          "ingested", ids=[t(1), t(2)]),
    _case("tempo_empty_results", "tempo", worklogs([]), "ingested"),
    _case("tempo_invalid_utf8", "tempo",
          raw(WORKLOGS, with_bytes({"metadata": {}, "results": [_w1]}, "Corpus worklog 1", b"Corpus \xc3\x28 1")),
          "ingested", ids=[t(1)], check=_text_has(t(1), "Corpus \ufffd( 1")),
    _case("tempo_lone_surrogate_description", "tempo", worklogs([worklog(1, description="tea \ud83d time")]),
          "ingested", ids=[t(1)], check=_text_has(t(1), "tea \ufffd time", absent=("\ud83d",))),
    _case("tempo_nul_description", "tempo", worklogs([worklog(1, description="tea\x00time")]), "ingested",
          ids=[t(1)], check=_text_has(t(1), "teatime")),
]  # fmt: skip

# -- Notion ------------------------------------------------------------------------------------------------


def nt(n: int) -> str:
    return f"notion:{notion_id(n)}"


def _np(n: int, *blocks: dict[str, Any], **fields: Any) -> tuple[dict[str, Any], Canned]:
    """A page of the bad partition and its block children (one paragraph by default)."""
    listed = list(blocks) or [notion_block(100 + n, text=f"Body of corpus page {n}.")]
    return notion_page(n, **fields), notion_children(notion_id(n), listed)


def _deep(depth: int) -> list[Canned]:
    """Page 1 whose blocks nest ``depth`` levels (a toggle in a toggle …), one request per level."""
    answers = []
    parent = notion_id(1)
    for level in range(1, depth + 1):
        last = level == depth
        text = "the bottom of the well" if last else f"level {level}"
        block = notion_block(level, "toggle", text, children=not last)
        answers.append(notion_children(parent, [block]))
        parent = block["id"]
    return answers


def _meta_is(doc_id: str, **expected: Any) -> Check:
    def check(ran: Ran) -> None:
        metadata = ran.doc(doc_id).metadata
        for key, value in expected.items():
            assert metadata.get(key) == value, (key, metadata.get(key), value)

    return check


def _not_found(status: int, code: str) -> bytes:
    return as_json({"object": "error", "status": status, "code": code, "message": "corpus", "request_id": "r"})


_n1, _c1 = _np(1)
_n2, _c2 = _np(2)
_deep_cap = 30  # past MAX_BLOCK_DEPTH (25): the first 25 levels are read, the rest counted

NOTION_CASES = [
    _case("notion_401_unauthorized", "notion", raw(NOTION_SEARCH, _not_found(401, "unauthorized"), status=401),
          "error", error=AuthError),
    _case("notion_400_validation_error", "notion",
          raw(NOTION_SEARCH, _not_found(400, "validation_error"), status=400), "error", error=RejectedRequestError),
    _case("notion_html_200", "notion", html(NOTION_SEARCH), "error", error=MalformedResponseError),
    _case("notion_results_is_a_string", "notion", raw(NOTION_SEARCH, as_json({"results": "x", "has_more": False})),
          "error", error=MalformedResponseError),
    _case("notion_has_more_without_cursor", "notion", notion_search([_n1], has_more=True), "error",
          error=PaginationError),
    _case("notion_object_not_found_after_search", "notion", [notion_search([_n1, _n2]), _c1], "failure",
          ids=[nt(1)], failed=[nt(2)], check=_reasons_name("object_not_found")),
    _case("notion_page_20_deep", "notion", [notion_search([_n1]), *_deep(20)], "ingested", ids=[nt(1)],
          check=_all(_text_has(nt(1), "level 1", "level 19", "the bottom of the well"),
                     _meta_is(nt(1), unread_deep_blocks=0))),
    _case("notion_page_30_deep", "notion", [notion_search([_n1]), *_deep(_deep_cap)[:25]], "ingested", ids=[nt(1)],
          check=_all(_text_has(nt(1), "level 25", "nested content below the depth limit was not read",
                               absent=("level 26", "the bottom of the well")),
                     _meta_is(nt(1), unread_deep_blocks=1))),
    _case("notion_unknown_block_types", "notion",
          [notion_search([_n1]), notion_children(notion_id(1), [
              notion_block(1, text="kept"), notion_block(2, "ai_block", prompt="x"),
              notion_block(3, "unsupported", block_type="x"), notion_block(4, "meeting_notes", title="x")])],
          "ingested", ids=[nt(1)],
          check=_all(_text_has(nt(1), "kept"), _meta_is(nt(1), skipped_blocks=3,
                     skipped_block_types=["ai_block", "meeting_notes", "unsupported"]))),
    _case("notion_trashed_in_results", "notion",
          [notion_search([_n1, notion_page(2, in_trash=True), notion_page(3, archived=True)]), _c1], "ingested",
          ids=[nt(1)]),
    _case("notion_duplicate_across_pages", "notion",
          [notion_search([_n1, _n2], cursor=notion_id(2)), notion_search([_n2]), _c1, _c2], "ingested",
          ids=[nt(1), nt(2)]),
    _case("notion_no_last_edited_time", "notion",
          [notion_search([_n1, {k: v for k, v in _n2.items() if k != "last_edited_time"}]), _c1, _c2], "failure",
          ids=[nt(1)], failed=[nt(2)], check=_reasons_name("unmappable page")),
    _case("notion_title_property_renamed", "notion",
          [notion_search([notion_page(1, properties={"Task": {"type": "title", "title": notion_rich("Renamed")}})]),
           _c1], "ingested", ids=[nt(1)], check=_title_has(nt(1), "Renamed")),
    _case("notion_mention_without_text_content", "notion",
          [notion_search([_n1]), notion_children(notion_id(1), [notion_block(1, rich_text=[
              {"type": "mention", "mention": {"type": "user"}, "plain_text": "@Ada", "annotations": {}},
              {"type": "equation", "equation": {"expression": "x"}, "plain_text": " x^2", "annotations": {}}])])],
          "ingested", ids=[nt(1)], check=_text_has(nt(1), "@Ada x^2")),
    _case("notion_lone_surrogate_text", "notion",
          [notion_search([_n1]), notion_children(notion_id(1), [notion_block(1, text="half \ud83d here")])],
          "ingested", ids=[nt(1)], check=_text_has(nt(1), "half \ufffd here")),
]  # fmt: skip


def _error_names(*needles: str) -> Check:
    def check(ran: Ran) -> None:
        assert ran.error is not None and all(n in str(ran.error) for n in needles), (needles, ran.error)

    return check


_m1, _m2 = message(1), message(2, text="Second <@U0NOBODY1> message")
_slack_day = [SLACK_DAY]
SLACK_CASES = [
    _case("slack_ok_false_invalid_auth", "slack", slack_error("invalid_auth"), "error", error=AuthError,
          check=_error_names("SLACK_BOT_TOKEN", "invalid_auth")),
    _case("slack_ok_false_token_revoked", "slack", slack_error("token_revoked"), "error", error=AuthError,
          check=_error_names("SLACK_BOT_TOKEN", "token_revoked")),
    _case("slack_ok_false_missing_scope", "slack",
          ok(HISTORY, {"ok": False, "error": "missing_scope", "needed": "groups:history", "provided": "channels:read"}),
          "error", error=AuthError, check=_error_names("SLACK_BOT_TOKEN", "groups:history")),
    _case("slack_ok_false_invalid_ts_oldest", "slack", slack_error("invalid_ts_oldest"), "error", error=SlackApiError,
          check=_error_names("invalid_ts_oldest", "conversations.history")),
    _case("slack_ok_false_without_a_code", "slack", ok(HISTORY, {"ok": False}), "error", error=SlackApiError,
          check=_error_names("unknown_error")),
    _case("slack_ok_false_ratelimited_then_page", "slack", [slack_error("ratelimited"), history([_m1])], "ingested",
          ids=_slack_day),
    _case("slack_ok_false_internal_error_then_page", "slack", [slack_error("internal_error"), history([_m1])],
          "ingested", ids=_slack_day),
    _case("slack_html_200", "slack", html(HISTORY), "error", error=MalformedResponseError),
    _case("slack_messages_is_a_string", "slack", raw(HISTORY, as_json({"ok": True, "messages": "x"})), "error",
          error=MalformedResponseError),
    _case("slack_has_more_without_cursor", "slack", history([_m1], has_more=True), "error", error=PaginationError),
    _case("slack_repeated_cursor", "slack",
          [history([_m1], cursor="bmV4dA=="), history([_m2], cursor="bmV4dA==", query={"cursor": "bmV4dA=="})],
          "error", error=PaginationError),
    _case("slack_message_without_ts", "slack", history([_m1, {k: v for k, v in _m2.items() if k != "ts"}]),
          "failure", ids=_slack_day, failed=[f"slack:{SLACK_CHANNEL_ID}:2026-06-01"],
          check=_reasons_name("unreadable message")),
    _case("slack_unknown_users", "slack", history([_m1, _m2]), "ingested", ids=_slack_day,
          check=_text_has(SLACK_DAY, f"{SLACK_USER}: Corpus message 1", "Second @U0NOBODY1 message")),
    _case("slack_lone_surrogate_text", "slack", history([message(1, text="tea \ud83d time")]), "ingested",
          ids=_slack_day, check=_text_has(SLACK_DAY, "tea \ufffd time", absent=("\ud83d",))),
    _case("slack_housekeeping_only", "slack",
          history([message(1, subtype="channel_join", text=f"<@{SLACK_USER}> has joined the channel")]), "ingested"),
]  # fmt: skip


CASES: list[Case] = [*JIRA_CASES, *TEMPO_CASES, *NOTION_CASES, *SLACK_CASES]
