"""The toy source's registry entry: all it takes to join ``backfill run``, the demo, status, coverage and the
contract suite (``BACKFILL_EXTRA_SOURCES=tests.toy.spec:TOY``, or ``SOURCES["toy"] = TOY`` in-process)."""

from __future__ import annotations

from datetime import timedelta

from connectors.base import Connector
from connectors.registry import SourceSpec
from core.settings import Settings
from tests.toy.connector import ToyConnector

__all__ = ["TOY"]


def _toy(settings: Settings) -> Connector:
    return ToyConnector(settings)


TOY = SourceSpec(
    name=ToyConnector.source,
    display=ToyConnector.display,
    build=_toy,
    env=("GITHUB_API_URL", "GITHUB_TOKEN"),
    secrets={"GITHUB_TOKEN": "toy-token"},
    flow="tests.toy.flow:toy_backfill",
    overlap=timedelta(minutes=5),
    freshness_hours=30.0,  # not the 26 h default, so status and coverage show the entry's own threshold
    what="issues",
    in_demo=True,
)
