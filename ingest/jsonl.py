"""Documents from a JSON-lines file: one ``Document`` object per line. The spine's test bed and its spool format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from ingest.document import Document

__all__ = ["JsonlError", "read_documents", "validate_file"]


class JsonlError(ValueError):
    """A line of the input is not a valid Document; the message names the file and the line."""


def read_documents(path: Path) -> Iterator[Document]:
    """Yield the documents of ``path`` lazily; a bad line raises ``JsonlError`` naming file, line and field."""
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield Document.model_validate(json.loads(line))
            except json.JSONDecodeError as exc:
                raise JsonlError(f"{path}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            except ValidationError as exc:
                fields = "; ".join(
                    f"{'.'.join(str(p) for p in err['loc']) or '<document>'}: {err['msg']}" for err in exc.errors()
                )
                raise JsonlError(f"{path}:{lineno}: invalid document ({fields})") from None


def validate_file(path: Path) -> int:
    """Read the whole file once, so a bad line fails the run before anything is written. Returns the count."""
    return sum(1 for _ in read_documents(path))
