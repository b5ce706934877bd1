"""A broken character in any field never holds a source hostage: the Document cleans it and is ingested."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from ingest.document import Document
from ingest.embedders import OpenAIEmbedder
from ingest.factory import build_store
from ingest.jsonl import read_documents
from ingest.pipeline import IngestOptions, run_ingest
from sandbox.server import RunningSandbox
from tests.ingest.ingest_helpers import DIM, make_settings

T0 = datetime(2026, 10, 1, tzinfo=UTC)
HALF = "\ud83d"  # the first half of a truncated emoji
FAST = IngestOptions(batch_docs=8, verify_timeout_s=10.0, verify_poll_s=0.2)


def _broken(n: int = 1) -> Document:
    return Document(
        id=f"jira:{n}",
        source="jira",
        title=f"Title {HALF}",
        text=f"Body with a cut emoji {HALF}, a NUL\x00 and a whole pair \ud83d\ude00.\n\nSecond paragraph {HALF}",
        url=f"https://x.test/{HALF}",
        created_at=T0,
        updated_at=T0,
        metadata={"status": f"Open{HALF}", f"key{HALF}": "value", "labels": [f"a{HALF}", "b\x00"], "points": 3},
        acl=[f"group:{HALF}"],
    )


def test_every_string_field_is_cleaned_and_round_trips_as_json() -> None:
    doc = _broken()
    assert doc.title == "Title \ufffd" and doc.url == "https://x.test/\ufffd"
    assert doc.text.startswith("Body with a cut emoji \ufffd, a NUL and a whole pair 😀.")
    assert doc.metadata == {"status": "Open\ufffd", "key\ufffd": "value", "labels": ["a\ufffd", "b"], "points": 3}
    assert doc.acl == ["group:\ufffd"]

    line = doc.model_dump_json()  # raised PydanticSerializationError before
    assert Document.model_validate_json(line) == doc


def test_a_spool_line_with_surrogate_escapes_reads_back_clean(tmp_path: Path) -> None:
    raw = _broken().model_dump(mode="json") | {"title": f"T{HALF}", "text": f"x{HALF}y"}
    spool = tmp_path / "docs.jsonl"
    spool.write_text(json.dumps(raw) + "\n")  # ensure_ascii: the surrogate travels as a "\ud83d" escape
    (doc,) = read_documents(spool)
    assert (doc.title, doc.text) == ("T\ufffd", "x\ufffdy")
    assert Document.model_validate_json(doc.model_dump_json()) == doc


def test_numbers_json_cannot_hold_are_dropped_or_kept_as_digits() -> None:
    raw = _broken().model_dump() | {"metadata": {"p": math.nan, "q": -math.inf, "r": 1.5, "id": 2**64, "n": -3}}
    noisy = Document.model_validate(raw)
    assert noisy.metadata == {"r": 1.5, "id": str(2**64), "n": -3}
    assert Document.model_validate_json(noisy.model_dump_json()) == noisy


@pytest.mark.parametrize("bad", ["jira:1\n", "jira:1 2", "jira:1#2", "Jira:1", "jira:é"])
def test_an_id_that_is_not_one_printable_ascii_token_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="printable ASCII"):
        Document(id=bad, source="jira", text="x", created_at=T0, updated_at=T0)


def test_a_document_with_broken_characters_is_ingested_and_verified(sb: RunningSandbox, tmp_path: Path) -> None:
    settings = make_settings(sb, tmp_path, backfill_store="lancedb")
    embedder, store = OpenAIEmbedder(settings), build_store(settings, dimensions=DIM)
    report = run_ingest([_broken(1), _broken(2)], embedder, store, FAST)
    assert report.status == "verified" and report.verified == report.chunks == store.count() >= 2
    stored = store.fetch_metadata(["jira:1#0"])["jira:1#0"]
    assert "\ufffd" in str(stored["text"]) and "\x00" not in str(stored["text"])
    assert stored["status"] == "Open\ufffd" and stored["acl"] == ["group:\ufffd"]
