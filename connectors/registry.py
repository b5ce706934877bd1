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
        return JiraConnector(
            settings,
            rate_per_s=settings.jira_rate_per_s,
            include_restricted_comments=settings.jira_include_restricted_comments,
        )
    if source == "tempo":
        # Tempo worklogs carry Jira issue ids only: keys and summaries come from Jira's bulkfetch.
        jira = JiraConnector(settings, rate_per_s=settings.jira_rate_per_s)
        return TempoConnector(settings, jira, rate_per_s=settings.tempo_rate_per_s)
    raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
