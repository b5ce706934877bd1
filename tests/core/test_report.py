"""The run summary is typed: unknown keys are refused, a failure keeps the counts it reached."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from core.report import REPORT_FIELDS, SOURCE_RUN_FIELDS, RunSummary


def test_a_failed_run_keeps_its_counts_and_names_its_error() -> None:
    failed = RunSummary.failed("VerificationFailed: 3 missing", {"documents": 10, "upserted": 7, "not_a_field": 1})
    assert (failed.status, failed.documents, failed.upserted, failed.error) == (
        "failed", 10, 7, "VerificationFailed: 3 missing",
    )  # fmt: skip


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError):
        RunSummary.model_validate({"status": "verified", "upsertd": 3})


def test_a_plain_ingest_shows_no_source_run_counts_and_a_source_run_shows_all() -> None:
    ingest = RunSummary(status="verified", documents=2)
    assert set(ingest.counts()) == set(REPORT_FIELDS) - SOURCE_RUN_FIELDS
    now = datetime(2026, 12, 1, tzinfo=UTC)
    source = RunSummary(status="verified", window=[now, now], partitions=3)
    assert list(source.counts()) == list(REPORT_FIELDS) and source.counts()["partitions"] == 3
    assert RunSummary.model_validate(source.as_dict()) == source  # the JSON a flow returns reads back the same
