"""The one Document model every source produces, and the id rules the whole pipeline relies on."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.acl import normalise_acl

__all__ = [
    "MAX_SOURCE_LEN",
    "MAX_VECTOR_ID_LEN",
    "Document",
    "MetadataValue",
    "Source",
    "chunk_id",
    "clean_text",
    "doc_id_of_chunk",
]

Source = str  # "jira" | "tempo" | "slack" | "notion" | "github" | "fireflies" | "jsonl" ...
MetadataValue = str | int | float | bool | list[str]
MAX_VECTOR_ID_LEN = 512
MAX_SOURCE_LEN = 64  # a source is a registry name; bounded so every chunk's required metadata stays small
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DOC_ID = re.compile(r"[a-z][a-z0-9_]*:[\x21-\x7e]+")  # fullmatch: "$" would let a trailing newline through


def clean_text(value: str) -> str:
    """``value`` with what no store or JSON writer accepts taken out: NUL characters are dropped, and a lone
    surrogate (half of a truncated emoji, from a ``\\ud83d`` escape) becomes U+FFFD.

    A surrogate pair that arrived as two code points is joined back into its character. Text that has neither
    (nearly all) comes back as the same object.
    """
    if not value.isascii():  # ASCII text cannot hold a surrogate
        try:
            value.encode()  # in C, faster than any scan for the surrogate range
        except UnicodeEncodeError:
            # UTF-16 round trip: pairs become their character, lone halves the replacement character.
            value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value.replace("\x00", "") if "\x00" in value else value


class Document(BaseModel):
    """One item of a source, ready to chunk.

    ``id`` is stable and source-prefixed (``jira:10042``, ``slack:C0123:1512085950.000216``); it never contains ``#``
    because chunk ids are ``{id}#{index}``. Every other string (title, text, url, metadata keys, values and list
    items, acl) is cleaned on validation (``clean_text``), a NaN or infinite metadata number is dropped and an
    integer beyond 64 bits becomes its digits, so one record with a broken character or number can always be
    written as JSON and stored instead of failing its whole source downstream.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=3, max_length=MAX_VECTOR_ID_LEN - 8)
    source: Source = Field(min_length=1, max_length=MAX_SOURCE_LEN)
    title: str = ""
    text: str
    url: str = ""
    created_at: datetime
    updated_at: datetime
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    acl: list[str] | None = None

    @field_validator("id")
    @classmethod
    def _id_is_prefixed_ascii(cls, value: str) -> str:
        if not _DOC_ID.fullmatch(value) or "#" in value:
            raise ValueError(f"document id {value!r} must be '<source>:<native id>', printable ASCII, no '#'")
        return value

    @field_validator("source", "title", "text", "url")
    @classmethod
    def _clean(cls, value: str) -> str:
        return clean_text(value)

    @field_validator("created_at", "updated_at")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        # Naive datetimes are the predecessor's time-zone bugs waiting to happen: treat them as UTC explicitly.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("metadata")
    @classmethod
    def _flat_metadata(cls, value: dict[str, MetadataValue]) -> dict[str, MetadataValue]:
        cleaned: dict[str, MetadataValue] = {}
        for key, item in value.items():
            if isinstance(item, list):
                if not all(isinstance(x, str) for x in item):
                    raise ValueError(f"metadata[{key!r}] must be a list of strings")
                item = [clean_text(x) for x in item]
            elif isinstance(item, str):
                item = clean_text(item)
            elif isinstance(item, float) and not math.isfinite(item):
                continue  # JSON has no NaN/inf: written as null, which neither a re-read nor a store accepts
            elif isinstance(item, int) and not isinstance(item, bool) and not _INT64_MIN <= item <= _INT64_MAX:
                item = str(item)  # a 20-digit id: no JSON writer or store takes it as a number, all as text
            cleaned[clean_text(key)] = item
        return cleaned

    @field_validator("acl")
    @classmethod
    def _clean_acl(cls, value: list[str] | None) -> list[str] | None:
        # Normalised (stripped, deduplicated, sorted) and refused when it cannot be stored whole (core/acl.py):
        # the ValueError makes the item a recorded failure in its mapper, never a document written with a cut acl.
        return None if value is None else normalise_acl(clean_text(entry) for entry in value)


def chunk_id(doc_id: str, index: int) -> str:
    """The vector id of a document's ``index``-th chunk."""
    return f"{doc_id}#{index}"


def doc_id_of_chunk(vector_id: str) -> str:
    """The document id a vector id belongs to."""
    return vector_id.rsplit("#", 1)[0]
