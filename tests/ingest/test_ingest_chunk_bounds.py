"""Chunks are bounded in stored bytes as well as tokens, and long whitespace runs collapse before chunking."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.chunking import LONG_WHITESPACE, MAX_CHUNK_BYTES, chunk_document, chunk_text, normalise_text, stored_size
from ingest.document import Document
from ingest.embedders import OpenAIEmbedder
from ingest.factory import build_store
from ingest.metadata import MAX_METADATA_BYTES, chunk_metadata, metadata_size
from ingest.pipeline import IngestOptions, run_ingest
from ingest.tokens import token_ids
from sandbox.server import RunningSandbox
from sandbox.text import TextGen
from tests.ingest.ingest_helpers import DIM, make_settings

MODEL = "text-embedding-3-small"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
FAST = IngestOptions(batch_docs=8, verify_timeout_s=10.0, verify_poll_s=0.2)


def _doc(text: str, n: int = 1, title: str = "A title") -> Document:
    return Document(id=f"notion:page-{n}", source="notion", title=title, text=text, created_at=NOW, updated_at=NOW)


def _check(chunks: list, text: str, max_tokens: int, max_bytes: int) -> None:
    assert "".join(chunk.body for chunk in chunks) == normalise_text(text)
    assert all(chunk.tokens <= max_tokens for chunk in chunks)
    assert all(stored_size(chunk.text) <= max_bytes for chunk in chunks)
    assert all(len(chunk.text.encode()) <= stored_size(chunk.text) for chunk in chunks)
    assert [list(chunk.token_ids) for chunk in chunks] == [token_ids(chunk.text) for chunk in chunks]


def test_long_whitespace_runs_collapse_and_ordinary_whitespace_stays() -> None:
    assert normalise_text("a" + " " * 200_000 + "b") == "a b"
    assert normalise_text("a" + "\t " * 40 + "\n" + " " * 40 + "b") == "a\nb"
    assert normalise_text("a" + "\n" * 1_000 + "b" + "\r\n \r\n" * 30) == "a\n\nb\n\n"
    ordinary = "code:\n" + "".join(" " * (4 * depth) + "x = 1\n" for depth in range(16)) + "\n\n\n\n\tend   "
    assert normalise_text(ordinary) is ordinary
    at_the_limit = "a" + " " * LONG_WHITESPACE + "b"
    assert normalise_text(at_the_limit) == at_the_limit
    assert normalise_text(normalise_text("x" + " \n" * 500)) == normalise_text("x" + " \n" * 500) == "x\n\n"


def test_two_hundred_thousand_spaces_make_one_small_chunk() -> None:
    text = "Start." + " " * 200_000 + "End."
    (chunk,) = chunk_document(_doc(text), 512, MODEL)
    assert chunk.body == "Start. End."
    assert metadata_size(chunk_metadata(_doc(text), chunk, MODEL)) < 1_000


@pytest.mark.parametrize(
    ("text", "max_tokens", "max_bytes"),
    [
        ("=" * 200_000, 2_048, MAX_CHUNK_BYTES),  # 64-byte tokens: 2,048 of them made 131 KB chunks
        (("/" * 80 + "\n\n") * 3_000, 8_191, MAX_CHUNK_BYTES),
        (("x" + " " * LONG_WHITESPACE) * 3_000, 8_191, MAX_CHUNK_BYTES),  # runs just short of collapsing
        ('\x01\\"' * 5_000 + "日本語のテキスト" * 500 + "🙂" * 2_000, 512, 2_048),  # escapes count, not characters
        (TextGen(4).paragraph(60), 512, 1_024),
    ],
)
def test_every_chunk_fits_the_byte_bound(text: str, max_tokens: int, max_bytes: int) -> None:
    title = "=" * 5_000  # a title of 64-byte tokens is cut in bytes too
    _check(chunk_text("notion:page-1", title, text, max_tokens, MODEL, max_bytes), text, max_tokens, max_bytes)


def test_the_default_byte_bound_keeps_metadata_under_the_limit_with_the_largest_fields() -> None:
    fields = {f"f{i}": "é" * 3_000 for i in range(30)} | {"people": ["p" * 300] * 400}
    doc = Document(
        id="notion:" + '"' * 496,
        source="notion",
        title="=" * 9_000,
        url="https://x.test/" + "u" * 5_000,
        text=("/" * 80 + "\n\n") * 3_000,
        created_at=NOW,
        updated_at=NOW,
        metadata=fields,
        acl=["group:" + "g" * 300] * 300,
    )
    chunks = chunk_document(doc, 8_191, MODEL)
    assert max(stored_size(chunk.text) for chunk in chunks) > MAX_CHUNK_BYTES * 0.7  # the byte bound did bind
    for chunk in chunks:
        metadata = chunk_metadata(doc, chunk, MODEL)
        assert metadata_size(metadata) <= MAX_METADATA_BYTES and metadata["text"] == chunk.text


def test_a_whitespace_bomb_is_ingested_and_verified(sb: RunningSandbox, tmp_path: Path) -> None:
    # 200k spaces were one 64 KB chunk whose metadata raised MetadataTooLarge and failed the whole run.
    settings = make_settings(sb, tmp_path, backfill_store="lancedb")
    embedder, store = OpenAIEmbedder(settings), build_store(settings, dimensions=DIM)
    docs = [_doc("Intro." + " " * 200_000 + "Outro.", 1), _doc(("\t" * 100 + "cell") * 2_000, 2)]
    report = run_ingest(docs, embedder, store, FAST)
    assert report.status == "verified" and report.verified == report.chunks == store.count()
    stored = store.fetch_metadata(["notion:page-1#0"])["notion:page-1#0"]
    assert stored["text"] == "A title\n\nIntro. Outro."
