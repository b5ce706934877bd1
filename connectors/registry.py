"""The source registry: everything Backfill knows about a source, in one entry.

A new source is one connector module, one thin flow, one ``SourceSpec`` here, its sandbox routes, a
``<source>-sync``/``<source>-backfill`` pair in prefect.yaml and a section in docs/SOURCES.md (tests fail when either
is missing). Everything else is derived from the entry: the CLI's ``backfill run SOURCE`` and its source options,
``backfill demo``, status and coverage, freshness thresholds, alert automations, the Secret blocks a flow loads and
``backfill alerts setup`` writes, client pacing, and the HTTP layer's names. No code outside a source's own modules
asks ``if source == "…"``.

Floors: this module sits with the connectors. It names a source's flow by its entrypoint string
(``flows.jira:jira_backfill``) rather than importing it, so nothing here points up to ``flows/``.

Plugin sources, for tests and in-house sources: ``BACKFILL_EXTRA_SOURCES`` (comma-separated ``module:ATTR``, each a
``SourceSpec``) adds entries when this module is imported, e.g. ``BACKFILL_EXTRA_SOURCES=tests.toy.spec:TOY``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from connectors.base import Connector
from connectors.jira import JiraConfig, JiraConnector
from connectors.notion import NotionConfig, NotionConnector
from connectors.slack import DEFAULT_THREAD_LOOKBACK_DAYS, SlackConfig, SlackConnector
from connectors.tempo import TempoConfig, TempoConnector
from core.settings import Settings, SettingsError

__all__ = [
    "EXTRA_SOURCES_VAR",
    "SERVICE_SECRETS",
    "SOURCES",
    "FilterOption",
    "SourceSpec",
    "UnknownSourceError",
    "freshness_defaults",
    "load_extra_sources",
    "make_connector",
    "secret_env_blocks",
    "source_spec",
]


class UnknownSourceError(ValueError):
    """A source name that is not registered; the message lists the registered ones."""


@dataclass(frozen=True)
class FilterOption:
    """A source-specific run parameter: the flow parameter and the CLI option that sets it.

    ``repeatable``: a list of strings (``--project ENG --project OPS``). ``integer``: a number, ``default`` when not
    given (``--thread-lookback-days 90``). Otherwise a flag; ``negate`` makes the flag set the parameter to False
    (``--include-archived`` → ``active_only=False``).
    """

    param: str
    option: str
    help: str
    repeatable: bool = False
    negate: bool = False
    integer: bool = False
    default: int | None = None

    def value(self, given: object) -> object:
        """The flow parameter's value for what the CLI option received."""
        if self.integer:
            return self.default if given is None else int(given)  # type: ignore[call-overload]
        if self.repeatable:
            return sorted(given) if given else None  # type: ignore[call-overload]
        return not given if self.negate else bool(given)


@dataclass(frozen=True)
class SourceSpec:
    """One source, everything derived from it."""

    name: str  # the id prefix, the CLI argument, the state file, the deployment names' stem
    display: str  # how people write it
    build: Callable[[Settings], Connector]  # fails naming the missing settings
    env: tuple[str, ...]  # the variables that locate and authenticate it (what the sandbox stands in for)
    secrets: Mapping[str, str]  # token env var → the Prefect Secret block it is loaded from at run time
    flow: str  # the flow's entrypoint, as prefect.yaml names it ("flows.jira:jira_backfill")
    overlap: timedelta  # how far before the watermark an incremental run starts again
    freshness_hours: float = 26.0  # stale when no verified run for this long (BACKFILL_FRESHNESS_<SOURCE>_HOURS)
    filters: tuple[FilterOption, ...] = ()
    in_demo: bool = True
    what: str = "items"  # what its documents are, for help texts ("issues", "worklogs")
    extra_secrets: Mapping[str, str] = field(default_factory=dict)  # tokens of other APIs it calls
    # The filters pruning plans its listing scopes with (``partitions(window, **prune_filters)``): every scope
    # whose documents the index may hold, e.g. Jira's archived projects too, so they are never taken as deleted.
    prune_filters: Mapping[str, object] = field(default_factory=dict)

    @property
    def all_secrets(self) -> dict[str, str]:
        return {**self.secrets, **self.extra_secrets}


def _jira(settings: Settings) -> Connector:
    return JiraConnector(JiraConfig.from_settings(settings))


def _tempo(settings: Settings) -> Connector:
    # Tempo worklogs carry Jira issue ids only: keys and summaries come from Jira's bulkfetch.
    return TempoConnector(TempoConfig.from_settings(settings), JiraConnector(JiraConfig.from_settings(settings)))


def _notion(settings: Settings) -> Connector:
    return NotionConnector(NotionConfig.from_settings(settings))


def _slack(settings: Settings) -> Connector:
    return SlackConnector(SlackConfig.from_settings(settings))


_JIRA_SECRETS = {"JIRA_API_TOKEN": "jira-api-token"}

SOURCES: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec(
            name=JiraConnector.source,
            display=JiraConnector.display,
            build=_jira,
            env=("JIRA_URL", "JIRA_EMAIL", "JIRA_API_TOKEN"),
            secrets=_JIRA_SECRETS,
            flow="flows.jira:jira_backfill",
            # Jira's search index lags writes by seconds to minutes and JQL compares at minute precision:
            # re-reading half an hour costs little (unchanged chunks are skipped by hash) and catches late edits.
            overlap=timedelta(minutes=30),
            what="issues",
            prune_filters={"active_only": False},
            filters=(
                FilterOption("projects", "--project", "Jira project key (repeatable).", repeatable=True),
                FilterOption("active_only", "--include-archived", "Jira: also archived projects.", negate=True),
            ),
        ),
        SourceSpec(
            name=TempoConnector.source,
            display=TempoConnector.display,
            build=_tempo,
            env=("TEMPO_API_URL", "TEMPO_API_TOKEN", "JIRA_URL", "JIRA_EMAIL", "JIRA_API_TOKEN"),
            secrets={"TEMPO_API_TOKEN": "tempo-api-token"},
            extra_secrets=_JIRA_SECRETS,
            flow="flows.tempo:tempo_backfill",
            # Tempo filters on updatedAt; edits to old worklogs (backdated work dates) still carry a fresh one.
            overlap=timedelta(minutes=30),
            what="worklogs",
        ),
        SourceSpec(
            name=NotionConnector.source,
            display=NotionConnector.display,
            build=_notion,
            env=("NOTION_API_URL", "NOTION_TOKEN"),
            secrets={"NOTION_TOKEN": "notion-token"},
            flow="flows.notion:notion_backfill",
            # Notion rounds last_edited_time down to the minute: the watermark is a whole minute and an edit later in
            # that minute carries the same time. Starting a few minutes before it re-reads that minute (>=), and an
            # equal updated_at with new content is written (ingest keeps only a strictly newer stored copy).
            overlap=timedelta(minutes=5),
            what="pages",
        ),
        SourceSpec(
            name=SlackConnector.source,
            display=SlackConnector.display,
            build=_slack,
            env=("SLACK_API_URL", "SLACK_BOT_TOKEN"),
            secrets={"SLACK_BOT_TOKEN": "slack-bot-token"},
            flow="flows.slack:slack_backfill",
            # Documents are rebuilt from whole UTC days and late replies are caught by the thread lookback; the
            # overlap only covers messages Slack indexes a little after their ts.
            overlap=timedelta(minutes=30),
            what="messages",
            prune_filters={"include_archived": True},
            filters=(
                FilterOption("channels", "--channel", "Slack channel name or id (repeatable).", repeatable=True),
                FilterOption("include_archived", "--include-archived", "Slack: also archived channels."),
                FilterOption(
                    "thread_lookback_days",
                    "--thread-lookback-days",
                    f"Slack: re-scan threads this many days before the window for late replies "
                    f"(default {DEFAULT_THREAD_LOOKBACK_DAYS}).",
                    integer=True,
                    default=DEFAULT_THREAD_LOOKBACK_DAYS,
                ),
            ),
        ),
    )
}

# The tokens of the services every run uses (not sources): loaded from Secret blocks like the sources' tokens.
SERVICE_SECRETS: dict[str, str] = {"OPENAI_API_KEY": "openai-api-key", "PINECONE_API_KEY": "pinecone-api-key"}


def source_spec(name: str) -> SourceSpec:
    """The registered source ``name``; UnknownSourceError listing the registered ones otherwise."""
    try:
        return SOURCES[name]
    except KeyError:
        raise UnknownSourceError(f"unknown source {name!r}; expected one of {', '.join(SOURCES)}") from None


def make_connector(source: str, settings: Settings) -> Connector:
    """A connector for ``source`` built from settings; fails naming the missing setting(s)."""
    return source_spec(source).build(settings)


def secret_env_blocks() -> dict[str, str]:
    """Every token env var → its Secret block: each registered source's, then the services'."""
    pairs: dict[str, str] = {}
    for spec in SOURCES.values():
        pairs.update(spec.all_secrets)
    return {**pairs, **SERVICE_SECRETS}


def freshness_defaults() -> dict[str, float]:
    """Each registered source's default freshness threshold in hours."""
    return {spec.name: spec.freshness_hours for spec in SOURCES.values()}


# -- plugin sources (tests, in-house sources) -----------------------------------------------------------------

EXTRA_SOURCES_VAR = "BACKFILL_EXTRA_SOURCES"


def load_extra_sources(raw: str | None) -> dict[str, SourceSpec]:
    """The SourceSpecs that ``raw`` (``BACKFILL_EXTRA_SOURCES``: comma-separated ``module:ATTR``) names, by name.

    SettingsError naming the variable when a reference does not import, is not a SourceSpec, reuses a registered
    name, or maps a token env var to another Secret block than a registered source does.
    """
    found: dict[str, SourceSpec] = {}
    blocks = secret_env_blocks()
    for ref in (part.strip() for part in (raw or "").split(",")):
        if not ref:
            continue
        module, _, attr = ref.partition(":")
        where = f"{EXTRA_SOURCES_VAR}: {ref!r}"
        if not module or not attr:
            raise SettingsError(f"{where} is not a 'module:ATTR' reference")
        try:
            spec = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise SettingsError(f"{where} does not resolve: {type(exc).__name__}: {exc}") from exc
        if not isinstance(spec, SourceSpec):
            raise SettingsError(f"{where} is a {type(spec).__name__}, not a SourceSpec")
        if spec.name in SOURCES or spec.name in found:
            raise SettingsError(f"{where}: source name {spec.name!r} is already registered")
        for var, block in spec.all_secrets.items():
            if blocks.setdefault(var, block) != block:
                raise SettingsError(f"{where}: {var} already loads from Secret block {blocks[var]!r}, not {block!r}")
        found[spec.name] = spec
    return found


SOURCES.update(load_extra_sources(os.environ.get(EXTRA_SOURCES_VAR)))
