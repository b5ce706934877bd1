"""Chunking never drops text, respects the token budget, and bounds the carried title."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.chunking import chunk_document
from ingest.document import Document
from ingest.tokens import count_tokens, token_ids
from sandbox.text import TextGen

MODEL = "text-embedding-3-small"
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _doc(text: str, title: str = "A title", doc_id: str = "notion:page-1") -> Document:
    return Document(id=doc_id, source="notion", title=title, text=text, created_at=NOW, updated_at=NOW)


def _fifty_pages() -> str:
    gen = TextGen(7)
    pages = []
    for page in range(50):
        pages.append(f"## Page {page}\n\n" + "\n\n".join(gen.paragraph() for _ in range(6)))
    # Runs with no boundary at all must be hard-split, not dropped: a long URL, base64 and CJK text.
    pages.append("https://example.com/" + "a1b2c3" * 700)
    pages.append("QUJD" * 1500)
    pages.append("日本語のテキストです。" * 200)
    pages.append("trailing whitespace and odd separators\r\n\r\n\t \n\n   ")
    return "\n\n".join(pages)


@pytest.mark.parametrize("max_tokens", [512, 160])
def test_fifty_pages_lose_no_text_and_fit_the_budget(max_tokens: int) -> None:
    text = _fifty_pages()
    chunks = chunk_document(_doc(text), max_tokens, MODEL)

    assert "".join(chunk.body for chunk in chunks) == text
    assert all(count_tokens(chunk.text) <= max_tokens for chunk in chunks)
    assert all(chunk.text.startswith("A title\n\n") for chunk in chunks)
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    assert {chunk.count for chunk in chunks} == {len(chunks)}
    assert chunks[3].id == "notion:page-1#3"


def test_overlap_repeats_the_end_of_the_previous_chunk() -> None:
    chunks = chunk_document(_doc(_fifty_pages()), 512, MODEL)
    prefix = len("A title\n\n")
    overlaps = [chunk.text[prefix : chunk.body_start] for chunk in chunks[1:]]
    assert sum(1 for overlap in overlaps if overlap) > len(overlaps) // 2
    for previous, overlap in zip(chunks, overlaps, strict=False):
        assert previous.body.endswith(overlap)
        assert count_tokens(overlap) <= 512 // 10


def test_paragraph_boundaries_are_preferred() -> None:
    gen = TextGen(3)
    text = "\n\n".join(gen.paragraph(3) for _ in range(40))
    chunks = chunk_document(_doc(text), 512, MODEL)
    assert len(chunks) > 2
    assert all(chunk.body.endswith("\n\n") for chunk in chunks[:-1])


def test_a_two_kilobyte_title_does_not_blow_the_budget() -> None:
    title = "Quarterly planning " * 110  # ~2 KB
    assert len(title) >= 2000
    chunks = chunk_document(_doc(TextGen(1).paragraph(40), title=title), 160, MODEL)
    prefix = chunks[0].text[: chunks[0].text.index("\n\n")]
    assert count_tokens(prefix) <= 160 // 8
    assert all(count_tokens(chunk.text) <= 160 for chunk in chunks)
    assert "".join(chunk.body for chunk in chunks) == TextGen(1).paragraph(40)


def test_empty_text_gives_one_chunk_with_the_title() -> None:
    (chunk,) = chunk_document(_doc(""), 512, MODEL)
    assert chunk.text == "A title"
    assert (chunk.index, chunk.count) == (0, 1)

    (untitled,) = chunk_document(_doc("  \n", title=""), 512, MODEL)
    assert untitled.text == "notion:page-1"  # never an empty input to the embedder


def test_content_hash_depends_on_text_and_model() -> None:
    doc = _doc(TextGen(5).paragraph(30))
    a = chunk_document(doc, 160, MODEL)
    b = chunk_document(doc, 160, MODEL)
    c = chunk_document(doc, 160, "all-MiniLM-L6-v2")
    assert [x.content_hash for x in a] == [x.content_hash for x in b]
    assert not {x.content_hash for x in a} & {x.content_hash for x in c}


@pytest.mark.parametrize("max_tokens", [512, 160, 64])
def test_each_chunk_carries_its_exact_token_count(max_tokens: int) -> None:
    # Counts are summed from the pieces where the seams allow it; they must equal a fresh count every time,
    # whatever the separators (indented paragraphs, tabs, CRLF, runs of blank lines, no boundary at all).
    odd = "para one.\n\n  indented\n\n\tTabbed\r\n\r\nCRLF para\n\n\n\nnext " * 40 + "x" * 3000
    for doc in (_doc(_fifty_pages()), _doc(odd, title=""), _doc(TextGen(9).paragraph(30), title="T " * 300)):
        chunks = chunk_document(doc, max_tokens, MODEL)
        assert [chunk.tokens for chunk in chunks] == [count_tokens(chunk.text) for chunk in chunks]
        # The ids are assembled from the pieces' ids, never re-tokenised: they must be the text's own ids,
        # since an embedder sends them in place of the text.
        assert [list(chunk.token_ids) for chunk in chunks] == [token_ids(chunk.text) for chunk in chunks]
