"""The one Document model every source produces, and the id rules the whole pipeline relies on."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["MAX_VECTOR_ID_LEN", "Document", "MetadataValue", "Source", "chunk_id", "doc_id_of_chunk"]

Source = str  # "jira" | "tempo" | "slack" | "notion" | "github" | "fireflies" | "jsonl" ...
MetadataValue = str | int | float | bool | list[str]
MAX_VECTOR_ID_LEN = 512
_DOC_ID = re.compile(r"^[a-z][a-z0-9_]*:[\x21-\x7e]+$")


class Document(BaseModel):
    """One item of a source, ready to chunk.

    ``id`` is stable and source-prefixed (``jira:10042``, ``slack:C0123:1512085950.000216``); it never contains ``#``
    because chunk ids are ``{id}#{index}``.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=3, max_length=MAX_VECTOR_ID_LEN - 8)
    source: Source = Field(min_length=1)
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
        if not _DOC_ID.match(value) or "#" in value:
            raise ValueError(f"document id {value!r} must be '<source>:<native id>', printable ASCII, no '#'")
        return value

    @field_validator("created_at", "updated_at")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        # Naive datetimes are the predecessor's time-zone bugs waiting to happen: treat them as UTC explicitly.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("metadata")
    @classmethod
    def _flat_metadata(cls, value: dict[str, MetadataValue]) -> dict[str, MetadataValue]:
        for key, item in value.items():
            if isinstance(item, list) and not all(isinstance(x, str) for x in item):
                raise ValueError(f"metadata[{key!r}] must be a list of strings")
        return value


def chunk_id(doc_id: str, index: int) -> str:
    """The vector id of a document's ``index``-th chunk."""
    return f"{doc_id}#{index}"


def doc_id_of_chunk(vector_id: str) -> str:
    """The document id a vector id belongs to."""
    return vector_id.rsplit("#", 1)[0]
