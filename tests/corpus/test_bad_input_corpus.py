"""The bad-input corpus: every malformed or extreme response ends as documented, never as a silent empty success.

Each case (tests/corpus/cases.py) cans the responses of one partition's listing in the sandbox
(``POST /_control/canned``), fetches every partition of the source with the real connector over HTTP, then ingests
what the failure policy says must land (every partition that did not raise) into the Pinecone + OpenAI
simulators and checks that the store verifies, holds exactly those documents (chunks numbered 0…n-1, each
knowing n), and holds none of the failed records. No Prefect: the flow adds nothing to these outcomes (a raising
partition fails the run; failures are recorded, the run ends Failed naming them).

Bad input
---------

Outcomes: **ingested** (lands as a document), **failure** (a ``FetchFailure`` with the record's id and a reason;
everything else of the partition lands; the run ends Failed naming it and the next run retries it), **error**
(the partition raises the error named, whose message names the source, the endpoint and the partition;
nothing of that partition is ingested, every other partition is). HTML and cut bodies are retried
(``RetryPolicy.malformed_attempts``, 3) before they fail. A **known gap** is a case whose documented outcome is
not met yet by code outside this package; it runs as a strict xfail (it fails once fixed, so the note goes).

Jira (``POST /rest/api/3/search/jql`` unless said otherwise):

- ``jira_html_200`` — an HTML page with HTTP 200 → error MalformedResponseError (after 3 attempts).
- ``jira_truncated_json`` — the first half of a JSON page → error MalformedResponseError (after 3 attempts).
- ``jira_array_not_object`` — a JSON array where the page object belongs → error MalformedResponseError.
- ``jira_issues_is_a_string`` — ``"issues": "x"`` → error MalformedResponseError.
- ``jira_issues_hold_a_non_object`` — ``"issues": [{…}, "x"]`` → error MalformedResponseError (the page is broken).
- ``jira_raw_nul_byte`` — a raw NUL byte inside a JSON string (invalid JSON) → error MalformedResponseError.
- ``jira_fields_null`` — ``"fields": null`` → failure ``jira:<id>`` ("unmappable issue …").
- ``jira_no_fields`` — no ``fields`` → failure ``jira:<id>``.
- ``jira_updated_is_a_number`` — ``"updated": 12345`` → failure ``jira:<id>``.
- ``jira_id_is_a_number`` — ``"id": 990001`` (a JSON number) → ingested as ``jira:990001``, as if a string.
- ``jira_no_key`` — no ``key`` → failure ``jira:<id>``.
- ``jira_no_id`` — no ``id`` → failure ``jira:<KEY>`` (bulkfetch can re-read it by key).
- ``jira_no_id_no_key`` — neither → failure ``jira:unidentified-<digest>``.
- ``jira_id_with_slash_query_hash`` — ``"id": "1/../2?x=3#4"`` → failure ``jira:<KEY>`` (ids are numeric); its
  comments are never requested (the id is not put into a URL path).
- ``jira_key_with_slash_query_hash`` — key ``ENG-1/../x?y=2#z`` with a numeric id → ingested; the key is
  percent-encoded in the document's ``/browse/`` URL.
- ``jira_timestamp_without_offset`` — ``"updated": "2026-01-01T10:00:00.000"`` → failure ``jira:<id>`` ("has no
  offset": a naive time would be read in some unknown zone).
- ``jira_is_last_false_without_token`` — ``isLast: false`` and no ``nextPageToken`` → error PaginationError.
- ``jira_repeated_next_page_token`` — page 2 hands back page 1's token → error PaginationError.
- ``jira_comment_page_empty_before_total`` — ``GET …/issue/{id}/comment`` answers an empty page at
  ``startAt=100`` of ``total: 250`` → error PaginationError.
- ``jira_duplicate_across_pages`` — the same issue on pages 1 and 2 (once ``"id"`` as a string, once as a
  number; the second newer) → ingested once, the newer copy.
- ``jira_empty_and_is_last`` — ``"issues": [], "isLast": true`` → ingested: nothing (a genuine empty result).
- ``jira_invalid_utf8`` — bytes ``ff fe c3 28`` inside the summary → ingested; each bad byte is U+FFFD.
- ``jira_lone_surrogate_summary``, ``jira_lone_surrogate_description``, ``jira_lone_surrogate_comment`` — a
  ``\\ud83d`` escape alone → ingested; the half character becomes U+FFFD (ingest/document.py ``clean_text``).
- ``jira_nul_characters`` — ``\\u0000`` escapes in summary and description → ingested; NULs dropped.
- ``jira_200k_spaces`` — 200,000 spaces in the description → ingested; the run collapses to one space, one chunk
  (ingest/chunking.py ``normalise_text``).
- ``jira_zero_width_and_rtl`` — U+200B, U+202E, U+2067, U+FEFF … → ingested unchanged.
- ``jira_10000_comments`` — total 10,000 with 100 embedded → ingested with all 10,000 comments (100 pages of
  ``/comment``).
- ``jira_1mb_description`` — a 1 MB description → ingested in bounded chunks, all verified.
- ``jira_adf_nested_300`` — ADF nested 300 levels → ingested with all its text (nodes deeper than 64 levels are
  flattened to their text: connectors/adf.py).
- ``jira_adf_nested_500`` — ADF nested 500 levels (JSON nested > 1,000) → error MalformedResponseError.
- ``jira_adf_unknown_nodes`` — node types ADF does not define → ingested; their text is kept.

Tempo (``GET /4/worklogs``):

- ``tempo_html_200``, ``tempo_truncated_json``, ``tempo_array_not_object`` → error MalformedResponseError (HTML
  and cut bodies after 3 attempts).
- ``tempo_results_is_a_string`` — ``"results": "x"`` → error MalformedResponseError.
- ``tempo_time_spent_not_a_number`` — ``"timeSpentSeconds": "n/a"`` → failure ``tempo:<id>`` (with its
  ``updatedAt``, where the next run re-reads from).
- ``tempo_no_issue``, ``tempo_issue_null`` — no ``issue`` / ``"issue": null`` → failure ``tempo:<id>``.
- ``tempo_no_updated_at`` — no ``updatedAt`` → failure ``tempo:<id>`` (kept, never filtered out of the window).
- ``tempo_no_id`` — two worklogs without ``tempoWorklogId`` → two failures ``tempo:unidentified-<digest>``.
- ``tempo_id_is_a_string`` — ``"tempoWorklogId": "880001"`` → ingested as ``tempo:880001``.
- ``tempo_timestamp_without_offset`` — ``"updatedAt": "2026-06-15T10:31:00.000"`` → failure ``tempo:<id>``.
- ``tempo_next_on_another_host`` — ``metadata.next`` on another host → error MalformedResponseError, raised before
  any request goes there.
- ``tempo_duplicate_across_pages`` — the same worklog on pages 1 and 2 → ingested once.
- ``tempo_empty_results`` — ``"results": []`` and no ``next`` → ingested: nothing (a genuine empty result).
- ``tempo_invalid_utf8``, ``tempo_lone_surrogate_description``, ``tempo_nul_description`` → ingested; U+FFFD
  for the broken bytes or half character, NULs dropped.

Notion (``POST /v1/search`` for pages, then ``GET /v1/blocks/{id}/children``; the bad partition starts at the sandbox
clock, so it holds only the canned pages; the other partition re-reads real pages by id):

- ``notion_401_unauthorized`` — 401 ``unauthorized`` → error AuthError naming ``NOTION_TOKEN`` (never retried).
- ``notion_400_validation_error`` — 400 ``validation_error`` → error RejectedRequestError naming the endpoint.
- ``notion_html_200``, ``notion_results_is_a_string`` → error MalformedResponseError.
- ``notion_has_more_without_cursor`` — ``has_more: true`` with ``next_cursor: null`` → error PaginationError (ending
  there would drop the rest silently).
- ``notion_object_not_found_after_search`` — search lists a page whose blocks then answer 404 ``object_not_found``
  (shared, then unshared or deleted) → failure ``notion:<id>`` ("object_not_found …"); the next run re-reads it by
  id and drops it from the ledger when it is still gone; its stored document is left to pruning.
- ``notion_page_20_deep`` — blocks nested 20 levels → ingested with every level's text (``unread_deep_blocks`` 0).
- ``notion_page_30_deep`` — blocks nested 30 levels → ingested with the first 25 levels (``MAX_BLOCK_DEPTH``); the
  document says the rest was not read, ``unread_deep_blocks`` is 1 and the run report names the page.
- ``notion_unknown_block_types`` — ``ai_block``, ``unsupported`` and a type newer than the pinned version → ingested
  without them; ``skipped_blocks`` 3 and their types in ``skipped_block_types``.
- ``notion_trashed_in_results`` — ``in_trash`` / ``archived`` pages in the results → not ingested.
- ``notion_duplicate_across_pages`` — the same page on two result pages → ingested once.
- ``notion_no_last_edited_time`` — a page without ``last_edited_time`` → failure ``notion:<id>`` ("unmappable page").
- ``notion_title_property_renamed`` — the title property named "Task" → its text is the title.
- ``notion_mention_without_text_content`` — mention and equation items (no ``text.content``) → their ``plain_text``.
- ``notion_lone_surrogate_text`` — a ``\\ud83d`` escape alone in a block → ingested with U+FFFD.
Slack (``GET conversations.history`` of #general, June 2026; errors are HTTP 200 with ``ok: false``):

- ``slack_ok_false_invalid_auth``, ``slack_ok_false_token_revoked`` → error AuthError naming ``SLACK_BOT_TOKEN``
  and the code (never retried).
- ``slack_ok_false_missing_scope`` — with ``needed: groups:history`` → error AuthError naming the scope.
- ``slack_ok_false_invalid_ts_oldest`` → error SlackApiError (a RejectedRequestError) naming the code and method.
  (``not_in_channel``/``channel_not_found`` are not errors: the channel is reported as skipped,
  tests/connectors/test_slack_sandbox.py.)
- ``slack_ok_false_without_a_code`` — ``{"ok": false}`` alone → error SlackApiError (``unknown_error``).
- ``slack_ok_false_ratelimited_then_page`` — ``error: ratelimited`` in an HTTP 200, then a page → ingested (the
  request waited and was retried).
- ``slack_ok_false_internal_error_then_page`` — ``internal_error`` then a page → ingested (retried as transient).
- ``slack_html_200`` — an HTML page with HTTP 200 → error MalformedResponseError (after 3 attempts).
- ``slack_messages_is_a_string`` — ``"messages": "x"`` → error MalformedResponseError (never "no messages").
- ``slack_has_more_without_cursor`` — ``has_more: true`` with an empty ``next_cursor`` → error PaginationError.
- ``slack_repeated_cursor`` — page 2 hands back page 1's cursor → error PaginationError.
- ``slack_message_without_ts`` — a message without ``ts`` → failure ``slack:<channel>:<the slice's first day>``
  ("unreadable message"); the day document of the other message lands.
- ``slack_unknown_users`` — authors and ``<@U…>`` mentions ``users.info`` does not know (``user_not_found``) →
  ingested; the id stands for the name (``@U0NOBODY1``).
- ``slack_lone_surrogate_text`` — a ``\\ud83d`` escape alone in a message → ingested as U+FFFD.
- ``slack_housekeeping_only`` — a slice whose only message is a ``channel_join`` → ingested: nothing (a genuine
  empty result: housekeeping is not content).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import FetchFailure, Partition
from connectors.errors import ConnectorError
from ingest.document import Document, doc_id_of_chunk
from ingest.embedders import OpenAIEmbedder
from ingest.factory import build_store
from ingest.pipeline import IngestOptions, run_ingest
from sandbox.server import RunningSandbox
from tests.corpus.cases import CASES, Case, Ran
from tests.corpus.sources import SOURCES
from tests.ingest.ingest_helpers import DIM, make_settings

OPTIONS = IngestOptions(batch_docs=64, verify_timeout_s=10.0, verify_poll_s=0.05, chunk_worker=False)


@pytest.fixture
def corpus_sandbox(fresh_sandbox: RunningSandbox) -> Iterator[RunningSandbox]:
    fresh_sandbox.control("pinecone/configure", {"dimension": DIM})
    yield fresh_sandbox
    fresh_sandbox.control("reset")  # no canned response may outlive its case


def _params() -> list[Any]:
    return [
        pytest.param(case, id=case.name, marks=[pytest.mark.xfail(strict=True, reason=case.xfail)] * bool(case.xfail))
        for case in CASES
    ]


def _fetch(connector: Any, partition: Partition) -> tuple[list[Document], list[FetchFailure], ConnectorError | None]:
    docs: list[Document] = []
    failures: list[FetchFailure] = []
    try:
        for item in connector.fetch(partition):
            if isinstance(item, Document | FetchFailure):  # notes and skipped scopes: the run report's, not records
                (docs if isinstance(item, Document) else failures).append(item)
    except ConnectorError as exc:
        return docs, failures, exc
    return docs, failures, None


@pytest.mark.parametrize("case", _params())
def test_bad_input_ends_as_documented(case: Case, corpus_sandbox: RunningSandbox, tmp_path: Path) -> None:
    sb = corpus_sandbox
    source = SOURCES[case.api]
    api_env = {k.lower(): v for k, v in sb.env.items() if k.startswith(("JIRA_", "TEMPO_", "NOTION_", "SLACK_"))}
    settings = make_settings(sb, tmp_path, **api_env)
    connector = source.build(settings)
    try:
        partitions = source.partitions(connector)  # before canning: listing the partitions may call the API
        for canned in case.responses:
            sb.control("canned", canned.control_body(case.api, source.base_url(connector), source.pin))
        fetched = [_fetch(connector, partition) for partition in partitions]
    finally:
        connector.close()
    unused = [e for e in sb.control("canned", method="GET")["pending"] if e["remaining"]]
    assert not unused, f"canned responses never requested: {unused}"

    (docs, failures, error), rest = fetched[0], fetched[1:]
    bad = partitions[0]
    ran = Ran(partitions, docs, failures, error, sb.control("counters")["counters"])

    # -- the bad partition ends as documented
    if case.outcome == "error":
        assert error is not None, f"expected {case.error.__name__ if case.error else 'an error'}, got none"
        assert type(error) is case.error, repr(error)
        message = str(error)
        assert error.source == case.api and source.display in message, message
        assert error.endpoint and error.endpoint in message, message
        assert error.partition == bad.key, repr(error)
    else:
        assert error is None, repr(error)
        assert {f.id for f in failures} == case.failed, failures
        assert len(failures) == len(case.failed), failures
        assert all(f.reason.strip() for f in failures)
        assert {d.id for d in docs} == case.ids
    # -- everything else is fetched whole
    for other_docs, other_failures, other_error in rest:
        assert other_error is None and other_failures == [] and other_docs, (other_error, other_failures)

    # -- what must land lands, verified; the store holds exactly that
    landing = [d for (ds, _, err) in fetched if err is None for d in ds]
    embedder, store = OpenAIEmbedder(settings), build_store(settings, dimensions=DIM)
    report = run_ingest(landing, embedder, store, OPTIONS)
    assert report.status == "verified" and report.missing == 0 and report.verified > 0, report
    chunk_ids = list(store.list_ids(f"{case.api}:"))
    metadata = store.fetch_metadata(chunk_ids)
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for chunk_id in chunk_ids:
        grouped[doc_id_of_chunk(chunk_id)].append(metadata[chunk_id])
    assert set(grouped) == {d.id for d in landing}
    assert not set(grouped) & {f.id for f in failures}
    for doc_id, chunks in grouped.items():
        chunks.sort(key=lambda m: int(m["chunk_index"]))
        assert [m["chunk_index"] for m in chunks] == list(range(len(chunks))), doc_id
        assert {m["chunk_count"] for m in chunks} == {len(chunks)}, doc_id
    ran.chunks = dict(grouped)
    if case.check is not None:
        case.check(ran)
    if error is not None:  # last, so a known gap here (strict xfail) still ran every other check
        assert bad.key in str(error), f"the message does not name the partition {bad.key}: {error}"


def test_every_case_is_documented_once() -> None:
    """The "Bad input" section (copied into docs/RUNBOOK.md) names every case; names are unique."""
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    doc = __doc__ or ""
    assert [n for n in names if doc.count(f"``{n}``") != 1] == []
    assert len(CASES) >= 30
