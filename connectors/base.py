"""The connector shape every source follows: partitions as values, lazy fetch, failures as data.

A ``Partition`` is the whole cache key of a fetch task, so it is a small frozen pydantic model:
hashable, ordered, JSON round-trippable, with explicit UTC bounds ``[start, end)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import total_ordering
from typing import Any, Protocol, runtime_checkable

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from ingest.document import Document

__all__ = [
    "MAPPING_ERRORS",
    "Connector",
    "FetchFailure",
    "FetchItem",
    "Partition",
    "RunNote",
    "SkippedScope",
    "Window",
    "epoch_ms",
    "floor_minute",
    "parse_timestamp",
    "slice_bounds",
]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class Window(BaseModel):
    """A time window ``[start, end)`` in UTC."""

    model_config = ConfigDict(frozen=True)

    start: AwareDatetime
    end: AwareDatetime

    _utc = field_validator("start", "end")(_to_utc)

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.start >= self.end:
            raise ValueError(f"window start {self.start.isoformat()} must be before end {self.end.isoformat()}")
        return self


@total_ordering
class Partition(BaseModel):
    """One unit of fetching: a source, a scope (project, channel, "all"), ``[start, end)`` UTC."""

    model_config = ConfigDict(frozen=True)

    source: str = Field(min_length=1)
    scope: str = Field(min_length=1)
    start: AwareDatetime
    end: AwareDatetime
    # Only what changed at or after this instant is emitted (Slack: a partition that reaches back before the run's
    # window to catch late thread replies). None for every source that does not need it; then it is left out of
    # the partition's JSON, so the cache keys of those sources' partitions are what they were.
    changed_since: AwareDatetime | None = None

    _utc = field_validator("start", "end")(_to_utc)

    @field_validator("changed_since")
    @classmethod
    def _utc_or_none(cls, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    @model_serializer(mode="wrap")
    def _without_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("changed_since") is None:
            data.pop("changed_since", None)
        return data

    @model_validator(mode="after")
    def _ordered(self) -> Partition:
        if self.start >= self.end:
            raise ValueError(f"partition start {self.start.isoformat()} must be before end {self.end.isoformat()}")
        return self

    @property
    def key(self) -> str:
        """A readable, unique string for logs, run names and failure records."""
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        key = f"{self.source}:{self.scope}:{self.start.strftime(fmt)}..{self.end.strftime(fmt)}"
        return key + (f" changed since {self.changed_since.strftime(fmt)}" if self.changed_since else "")

    def _sort_key(self) -> tuple[str, str, datetime, datetime]:
        return (self.source, self.scope, self.start, self.end)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Partition):
            return NotImplemented
        return self._sort_key() < other._sort_key()

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


# What a pure mapper raises on a record whose shape it cannot read: the record becomes a FetchFailure (the run goes
# on), never a crash of its partition.
MAPPING_ERRORS: tuple[type[Exception], ...] = (KeyError, TypeError, ValueError, AttributeError, ValidationError)


class FetchFailure(BaseModel):
    """A record that could not be turned into a Document: kept as data, reported, retried by later runs."""

    model_config = ConfigDict(frozen=True)

    id: str
    reason: str
    # When the record's own update time could be read: a source that re-reads failures by window (Tempo)
    # starts there instead of at the partition's start.
    updated_at: AwareDatetime | None = None


class SkippedScope(BaseModel):
    """A scope the connector could not read at all and left out (a Slack channel the bot may not join).

    Not a failure of the run (no record was lost that the token can see) but never silent: every run report lists
    the skipped scopes by name with the reason, so an operator can grant access or accept it.
    """

    model_config = ConfigDict(frozen=True)

    scope: str  # how people name it: "#ops (C0123ABCD)"
    reason: str  # why, and what would let Backfill read it


class RunNote(BaseModel):
    """Something the operator should know about what a run did not cover, and how to change it (shown once)."""

    model_config = ConfigDict(frozen=True)

    text: str


# What ``Connector.fetch`` yields.
FetchItem = Document | FetchFailure | SkippedScope | RunNote


def floor_minute(instant: datetime) -> datetime:
    """``instant`` truncated to the minute (JQL compares ``updated`` at minute precision)."""
    return instant.astimezone(UTC).replace(second=0, microsecond=0)


def slice_bounds(window: Window, months: int) -> list[tuple[datetime, datetime]]:
    """Split ``[start, end)`` at UTC boundaries every ``months`` months (Jan 1, Jul 1 for 6).

    Anchored boundaries keep the bounds of closed slices identical from run to run, so a resumed or repeated
    run finds their fetch results in the cache; only the open, most recent slice changes.
    """
    pieces: list[tuple[datetime, datetime]] = []
    cursor = window.start
    while cursor < window.end:
        index = (cursor.year * 12 + cursor.month - 1) // months * months + months
        boundary = datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)
        pieces.append((cursor, min(boundary, window.end)))
        cursor = boundary
    return pieces


def epoch_ms(instant: datetime) -> int:
    """Milliseconds since the epoch: a time-zone-free bound (Jira reads unquoted numbers in JQL this way)."""
    return int(instant.astimezone(UTC).timestamp() * 1000)


def parse_timestamp(value: str) -> datetime:
    """Parse a vendor timestamp (``2025-03-04T17:02:10.456+0000``, ``…Z``, ``…+00:00``) into aware UTC."""
    parsed = datetime.fromisoformat(value)  # 3.11 accepts +0000, Z and fractional seconds
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no offset")
    return parsed.astimezone(UTC)


@runtime_checkable
class Connector(Protocol):
    """What every ``connectors/<source>.py`` offers. Implementations never import prefect and yield lazily."""

    source: str  # the registry name and the documents' id prefix
    display: str  # how people write it ("GitHub"): errors and reports name the source this way

    def partitions(self, window: Window, **filters: Any) -> list[Partition]:
        """The partitions covering ``window`` (after applying source filters such as project keys)."""
        ...

    def fetch(self, partition: Partition) -> Iterator[FetchItem]:
        """Every item of the partition, lazily; an unmappable record is a FetchFailure.

        A scope it cannot read at all is a ``SkippedScope``; what the run did not cover by design (and how to widen
        it) is a ``RunNote``. Both reach the run report.
        """
        ...

    def refetch_partitions(self, doc_ids: Sequence[str], since: datetime | None, window: Window) -> list[Partition]:
        """Partitions that read earlier failures ``doc_ids`` again, fetched before ``window``'s own partitions.

        By id where the API can (Jira), else by re-reading from ``since`` (the earliest window that held one of
        them; None = unknown, the whole history) up to ``window.start``, where the window's partitions take
        over. Together with the window they must return every one of ``doc_ids`` that still exists: an id
        neither returned nor failed again is taken as deleted at the source and leaves the failure ledger.
        """
        ...

    def check(self) -> None:
        """One cheap authenticated call; raises AuthError naming the setting when credentials are rejected."""
        ...

    def list_ids(self, scope: str) -> Iterator[str]:
        """Every live document id in ``scope`` (for pruning deletions)."""
        ...
