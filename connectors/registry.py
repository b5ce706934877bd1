"""Which connector serves which source. The one place a flow asks for a connector by name."""

from __future__ import annotations

from backfill.settings import Settings
from connectors.base import Connector
from connectors.jira import JiraConnector
from connectors.tempo import TempoConnector

__all__ = ["SOURCES", "make_connector"]

SOURCES = ("jira", "tempo")


def make_connector(source: str, settings: Settings) -> Connector:
    """A connector for ``source`` built from settings; fails naming the missing setting(s)."""
    if source == "jira":
        return JiraConnector(settings)
    if source == "tempo":
        # Tempo worklogs carry Jira issue ids only: keys and summaries come from Jira's bulkfetch.
        return TempoConnector(settings, JiraConnector(settings))
    raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
