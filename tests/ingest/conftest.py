"""Fixtures for the ingest tests: a reset sandbox per test and Settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from sandbox.server import RunningSandbox, start_sandbox
from tests.ingest.ingest_helpers import DIM, make_settings


@pytest.fixture(scope="session")
def ingest_sandbox(request: pytest.FixtureRequest) -> Iterator[RunningSandbox]:
    """The shared session ``sandbox`` fixture when tests/conftest.py provides one, else our own."""
    try:
        yield request.getfixturevalue("sandbox")
        return
    except pytest.FixtureLookupError:
        pass
    with start_sandbox(seed=42, profile="none") as sandbox:
        yield sandbox


@pytest.fixture
def sb(ingest_sandbox: RunningSandbox) -> Iterator[RunningSandbox]:
    """A clean sandbox: empty index of ``DIM`` dimensions, no faults, zeroed counters."""
    ingest_sandbox.control("reset")
    ingest_sandbox.control("pinecone/configure", {"dimension": DIM})
    yield ingest_sandbox
    ingest_sandbox.control("reset")


@pytest.fixture
def settings(sb: RunningSandbox, tmp_path: Path) -> Settings:
    return make_settings(sb, tmp_path)
