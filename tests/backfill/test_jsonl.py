"""JSON-lines input: a bad line is named by file and line before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.jsonl import JsonlError, read_documents, validate_file

GOOD = {
    "id": "jsonl:1",
    "source": "jsonl",
    "title": "T",
    "text": "body",
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-02T00:00:00Z",
}


def test_reads_documents_lazily(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + json.dumps({**GOOD, "id": "jsonl:2"}) + "\n")
    assert [d.id for d in read_documents(path)] == ["jsonl:1", "jsonl:2"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", r"docs.jsonl:2: not valid JSON"),
        (json.dumps({**GOOD, "id": "no-prefix"}), r"docs.jsonl:2: invalid document \(id:"),
        (json.dumps({**GOOD, "metadata": {"k": {"nested": 1}}}), r"docs.jsonl:2: invalid document \(metadata"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "text"}), r"docs.jsonl:2: invalid document \(text"),
    ],
)
def test_bad_line_is_named(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + line + "\n")
    with pytest.raises(JsonlError, match=expected):
        validate_file(path)
