"""Properties of chunking, the metadata budget, the id rules and the dedupe guard, for any input (hypothesis)."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ingest.chunking import LONG_WHITESPACE, MAX_CHUNK_BYTES, chunk_document, chunk_text, normalise_text, stored_size
from ingest.dedupe import Deduper
from ingest.document import MAX_VECTOR_ID_LEN, Document, chunk_id, clean_text, doc_id_of_chunk
from ingest.errors import PaginationBugSuspected
from ingest.metadata import MAX_METADATA_BYTES, chunk_metadata, metadata_size
from ingest.tokens import token_ids

MODEL = "text-embedding-3-small"
T0 = datetime(2026, 11, 1, tzinfo=UTC)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters that stress tokens-per-byte and escapes: whitespace of every kind, 64-byte "ruler" tokens, control
# characters and quotes (escaped in JSON), multi-byte letters and emoji, lone surrogates.
_RUNS = ["", " ", "\t", "\n", "\r\n", "\u3000", "\x0b", "=", "/", "-", "\x01", "\\", '"', "é", "日本", "🙂", "ab", " x"]
_any_chars = st.text(alphabet=st.characters(codec=None), max_size=40)
_surrogates = st.text(alphabet=st.characters(categories=["Cs"]), max_size=3)
_words = st.lists(st.text(alphabet=string.ascii_letters + ".,!?", min_size=1, max_size=12), max_size=60).map(" ".join)
_lengths = st.integers(1, 2_500) | st.integers(500, 2_500)  # half of them long: past the bounds, into splits
_runs = st.tuples(st.sampled_from(_RUNS), _lengths).map(lambda pair: pair[0] * pair[1])
_segment = st.one_of(_any_chars, _surrogates, _words, _runs, st.sampled_from(["\n\n", ". ", "\n", "\t\n \n"]))
texts = st.lists(_segment, max_size=8).map("".join)
doc_ids = st.from_regex(r"[a-z][a-z0-9_]{0,8}:[\x21-\x7e]{1,520}", fullmatch=True)


def _doc(doc_id: str = "jira:1", text: str = "body", **fields: object) -> Document:
    return Document(id=doc_id, source="jira", text=text, created_at=T0, updated_at=T0, **fields)  # type: ignore[arg-type]


# --- chunking -------------------------------------------------------------------------------------------------


@settings(SETTINGS, max_examples=100)
@given(
    text=texts,
    title=st.one_of(_any_chars, _runs),
    max_tokens=st.sampled_from([64, 160, 512]),
    max_bytes=st.sampled_from([1_024, 4_096, MAX_CHUNK_BYTES]),
)
def test_chunks_rebuild_the_normalised_text_within_both_bounds(
    text: str, title: str, max_tokens: int, max_bytes: int
) -> None:
    chunks = chunk_text("jira:1", title, text, max_tokens, MODEL, max_bytes)
    normal = normalise_text(text)
    if normal.strip():
        assert "".join(chunk.body for chunk in chunks) == normal
    else:
        assert len(chunks) == 1 and chunks[0].text.strip()
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.tokens <= max_tokens
        assert len(chunk.text.encode()) <= stored_size(chunk.text) <= max_bytes
        assert list(chunk.token_ids) == token_ids(chunk.text)
        assert chunk.id == chunk_id("jira:1", chunk.index) and chunk.count == len(chunks)


@SETTINGS
@given(text=texts)
def test_normalising_only_collapses_long_whitespace_runs(text: str) -> None:
    normal, clean = normalise_text(text), clean_text(text)
    assert normalise_text(normal) == normal
    assert "".join(normal.split()) == "".join(clean.split())  # every visible character, in order
    assert not re.search(rf"\s{{{LONG_WHITESPACE + 1}}}", normal)
    if not re.search(rf"\s{{{LONG_WHITESPACE + 1}}}", clean):
        assert normal == clean


# --- the metadata budget --------------------------------------------------------------------------------------

_big_strings = st.tuples(_any_chars | _surrogates, st.integers(1, 1_500)).map(lambda pair: pair[0] * pair[1])
_items = st.lists(st.tuples(_any_chars, st.integers(1, 20)).map(lambda pair: pair[0] * pair[1]), max_size=4)
_values = st.one_of(_big_strings, st.integers(), st.floats(), st.booleans(), _items.map(lambda items: items * 60))
# Any acl a Document accepts: entries of any characters but the reserved "|" (and not "none"), up to its size limit
# (10 entries of ≤ 30 characters stay under MAX_ACL_BYTES even when every character is escaped in JSON).
_acl_entries = st.text(st.characters(exclude_characters="|", exclude_categories=["Cs"]), min_size=1, max_size=30)
_acls = st.lists(_acl_entries.filter(lambda e: e.strip() and e.strip() != "none"), max_size=10)
documents = st.builds(
    Document,
    id=doc_ids.filter(lambda i: "#" not in i and len(i) <= MAX_VECTOR_ID_LEN - 8),
    source=st.sampled_from(["jira", "slack", "notion"]),
    title=_big_strings,
    text=texts,
    url=_big_strings,
    created_at=st.datetimes(timezones=st.just(UTC)),
    updated_at=st.datetimes(timezones=st.just(UTC)),
    metadata=st.dictionaries(_any_chars | _surrogates, _values, max_size=6),
    acl=st.none() | _acls,
)


@SETTINGS
@given(doc=documents, max_tokens=st.sampled_from([160, 512, 2_048]))
def test_every_chunk_metadata_fits_and_keeps_the_whole_text(doc: Document, max_tokens: int) -> None:
    assert Document.model_validate_json(doc.model_dump_json()).model_dump() == doc.model_dump()
    for chunk in chunk_document(doc, max_tokens, MODEL):
        metadata = chunk_metadata(doc, chunk, MODEL)
        assert metadata_size(metadata) <= MAX_METADATA_BYTES
        assert metadata["text"] == chunk.text and metadata["doc_id"] == doc.id
        assert metadata.get("acl") == (doc.acl or None)  # the acl is never cut


# --- id rules -------------------------------------------------------------------------------------------------


@SETTINGS
@given(
    raw=st.one_of(
        st.text(max_size=600),
        st.tuples(doc_ids, st.sampled_from(["", "\n", "#1", " x", "é", "\t", "\x7f"])).map("".join),
    ),
    index=st.integers(0, 9_999_999),
)
def test_vector_ids_are_printable_ascii_within_512_characters(raw: str, index: int) -> None:
    try:
        doc = _doc(raw)
    except ValidationError:
        return  # refused at the source, as a failed record: never a bad vector id
    vector_id = chunk_id(doc.id, index)
    assert len(vector_id) <= MAX_VECTOR_ID_LEN
    assert all("\x21" <= char <= "\x7e" for char in vector_id)
    assert doc_id_of_chunk(vector_id) == doc.id == raw
    assert [chunk.id for chunk in chunk_document(doc, 160, MODEL)] == [chunk_id(raw, 0)]


# --- the dedupe guard -----------------------------------------------------------------------------------------


@SETTINGS
@given(
    stream=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 4)), max_size=400),
    batch_size=st.integers(1, 60),
    share=st.sampled_from([0.0, 0.05, 0.2, 0.5]),
)
def test_dedupe_keeps_the_newest_copy_and_raises_past_the_share(
    stream: list[tuple[int, int]], batch_size: int, share: float
) -> None:
    min_items, min_duplicates = 20, 3
    deduper = Deduper(max_duplicate_share=share, min_items=min_items, min_duplicates=min_duplicates)
    docs = [
        Document(id=f"jira:{n}", source="jira", text=str(seq), created_at=T0, updated_at=T0 + timedelta(minutes=m))
        for seq, (n, m) in enumerate(stream)
    ]

    def too_many(total: int, unique: int) -> bool:
        duplicates = total - unique
        return total > 0 and duplicates >= min_duplicates and duplicates / total > share

    seen: list[Document] = []
    kept: dict[str, Document] = {}
    for start in range(0, len(docs), batch_size):
        batch = docs[start : start + batch_size]
        seen += batch
        total, unique = len(seen), len({doc.id for doc in seen})
        if total >= min_items and too_many(total, unique):
            with pytest.raises(PaginationBugSuspected, match=f"{total} items for {unique} unique ids"):
                deduper.add(batch)
            return
        out = deduper.add(batch)
        assert len({doc.id for doc in out}) == len(out)
        for doc in out:  # each copy let through is newer than any let through before
            assert doc.id not in kept or doc.updated_at > kept[doc.id].updated_at
            kept[doc.id] = doc

    newest: dict[str, Document] = {}
    for doc in docs:  # the first copy with the latest updated_at
        if doc.id not in newest or doc.updated_at > newest[doc.id].updated_at:
            newest[doc.id] = doc
    assert kept == newest
    if too_many(len(docs), len(newest)):
        with pytest.raises(PaginationBugSuspected):
            deduper.finish()
    else:
        deduper.finish()
