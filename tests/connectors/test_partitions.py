"""Partitions are values: hashable, ordered, JSON round-trippable, explicit UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from connectors.base import Partition, Window, epoch_ms


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_partition_is_hashable_ordered_and_round_trips_json() -> None:
    p = Partition(source="jira", scope="ENG", start=utc(2025, 3, 1), end=utc(2025, 4, 1))
    same = Partition.model_validate_json(p.model_dump_json())
    assert same == p and hash(same) == hash(p) and len({p, same}) == 1
    later = Partition(source="jira", scope="ENG", start=utc(2025, 4, 1), end=utc(2025, 5, 1))
    assert sorted([later, p]) == [p, later]
    assert p.key == "jira:ENG:2025-03-01T00:00:00Z..2025-04-01T00:00:00Z"
    assert p.contains(utc(2025, 3, 31, 23, 59)) and not p.contains(utc(2025, 4, 1))


def test_partition_bounds_are_normalised_to_utc_and_must_be_aware_and_ordered() -> None:
    cet = timezone(timedelta(hours=1))
    p = Partition(source="s", scope="x", start=datetime(2025, 1, 1, 1, tzinfo=cet), end=utc(2025, 2, 1))
    assert p.start == utc(2025, 1, 1) and p.start.tzinfo == UTC
    with pytest.raises(ValidationError):
        Partition(source="s", scope="x", start=datetime(2025, 1, 1), end=utc(2025, 2, 1))
    with pytest.raises(ValidationError):
        Partition(source="s", scope="x", start=utc(2025, 2, 1), end=utc(2025, 1, 1))


def test_epoch_ms_is_time_zone_free() -> None:
    assert epoch_ms(utc(2024, 11, 29, 10, 44, 51)) == 1732877091000
    assert epoch_ms(datetime(2024, 11, 29, 11, 44, 51, tzinfo=timezone(timedelta(hours=1)))) == 1732877091000


def test_slice_bounds_are_anchored_to_half_years_so_closed_slices_are_stable() -> None:
    from connectors.base import slice_bounds

    first = slice_bounds(Window(start=datetime(2024, 3, 5, 7, tzinfo=UTC), end=datetime(2025, 2, 1, tzinfo=UTC)), 6)
    later = slice_bounds(Window(start=datetime(2024, 3, 5, 7, tzinfo=UTC), end=datetime(2025, 9, 1, tzinfo=UTC)), 6)
    assert first == [
        (datetime(2024, 3, 5, 7, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC)),
        (datetime(2024, 7, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)),
        (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)),
    ]
    assert later[:2] == first[:2]  # a later run re-uses the closed slices' cache keys
    assert later[-1] == (datetime(2025, 7, 1, tzinfo=UTC), datetime(2025, 9, 1, tzinfo=UTC))
