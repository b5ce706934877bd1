"""Backfill configuration, read from the environment by pydantic-settings.

Every setting is named after its environment variable (docs/CONFIGURATION.md lists them). A bad or missing
setting fails at start-up, before any request, with the variable named (``SettingsError``). Tokens are
``SecretStr``: they never reach logs, results or artifacts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "SettingsError", "load_settings", "require"]


class SettingsError(RuntimeError):
    """A setting is missing or invalid; the message names the environment variable."""


class Settings(BaseSettings):
    """All of Backfill's settings. Field names map 1:1 to upper-case environment variables."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # sources
    jira_url: AnyHttpUrl | None = None
    jira_email: str | None = None
    jira_api_token: SecretStr | None = None
    tempo_api_url: AnyHttpUrl = AnyHttpUrl("https://api.tempo.io")
    tempo_api_token: SecretStr | None = None
    slack_api_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api")
    slack_bot_token: SecretStr | None = None
    notion_api_url: AnyHttpUrl = AnyHttpUrl("https://api.notion.com")
    notion_token: SecretStr | None = None
    github_api_url: AnyHttpUrl = AnyHttpUrl("https://api.github.com")
    github_token: SecretStr | None = None
    fireflies_api_url: AnyHttpUrl = AnyHttpUrl("https://api.fireflies.ai/graphql")
    fireflies_api_key: SecretStr | None = None
    # Client-side pacing per API (requests/second, shared by every client of that API in the process). The
    # defaults sit under each vendor's documented limit; lower them when several deployments share a token.
    jira_rate_per_s: float = Field(default=10.0, gt=0, le=1000)
    tempo_rate_per_s: float = Field(default=4.0, gt=0, le=1000)
    notion_rate_per_s: float = Field(default=3.0, gt=0, le=1000)  # Notion: "an average of three requests per second"
    # Slack paces each method by its rate-limit tier (conversations.list 20/min, history/replies 50/min,
    # users.info 100/min). SLACK_RATE_PER_S replaces every tier's pace (a sandbox, or a grid with raised limits).
    slack_rate_per_s: float | None = Field(default=None, gt=0, le=1000)
    slack_join_public_channels: bool = True  # join public channels the bot is not in (scope channels:join)
    slack_include_bot_messages: bool = False  # bot/app posts (deploy notices…) are noise for most knowledge bases
    # An app distributed outside the Slack Marketplace (the 2025 terms): history/replies at one request per
    # SLACK_TIER1_INTERVAL_S (60 s at Slack) and 15 messages a page. Slow but complete, with progress and an ETA.
    slack_non_marketplace: bool = False
    slack_tier1_interval_s: float = Field(default=60.0, gt=0, le=3600)
    # When one request gives up, for every API (sources, OpenAI, Pinecone): after this many attempts, or when a
    # wait the server asks for (Retry-After, reset headers) would pass this many seconds of waiting in total.
    # 600 s honours a Retry-After of 120 s four times; a longer stated wait fails at once, naming this setting.
    backfill_http_max_wait_s: float = Field(default=600.0, gt=0, le=86_400)
    backfill_http_max_attempts: int = Field(default=8, ge=1, le=100)

    # embeddings
    openai_api_key: SecretStr | None = None
    openai_base_url: AnyHttpUrl | None = None
    embedding_model: str = "text-embedding-3-small"
    embedding_dimensions: int | None = Field(default=None, gt=0, le=20_000)
    # Send the chunker's cl100k token ids instead of the text to OpenAI's own models (the same embedding, and
    # the server need not tokenise again). False for a server behind OPENAI_BASE_URL that serves another model
    # under one of OpenAI's model names: its tokenizer would read the ids as different text.
    openai_send_token_ids: bool = True

    # vector store
    pinecone_api_key: SecretStr | None = None
    pinecone_index_host: str | None = None
    pinecone_namespace: str = Field(default="backfill", min_length=1, max_length=512)

    # engine
    backfill_store: Literal["lancedb", "pinecone"] = "lancedb"
    backfill_embedder: Literal["local", "openai"] = "local"
    backfill_home: Path = Path(".backfill")
    backfill_grants_file: Path | None = None  # JSON {principal: [grant, ...]} for `backfill search --as`
    # A saved Prefect filesystem block (e.g. "s3-bucket/backfill-results") for task results *and* source state:
    # managed workers lose their disk, so resume and watermarks must live in the bucket.
    backfill_results_block: str | None = Field(default=None, pattern=r"^[a-z0-9-]+/[a-z0-9-]+$")

    # One run per source (core/lease.py): how long a second run waits for the first before failing, and how
    # long a crashed holder's lease blocks others (it is renewed every third of this while its run lives).
    backfill_lease_wait_s: float = Field(default=300.0, ge=0, le=86_400)
    backfill_lease_ttl_s: float = Field(default=120.0, ge=5, le=3_600)
    # Pruning (flows/prune.py) refuses to delete more than this share of a source's documents without --force:
    # a listing that silently came back short must not wipe the index.
    backfill_prune_max_share: float = Field(default=0.10, gt=0, le=1)
    # Jira comments restricted to a role/group and JSM internal notes stay out of the shared documents unless
    # this is set (the index has no per-comment permissions); they are counted in each document's metadata.
    jira_include_restricted_comments: bool = False

    # alerts
    slack_webhook_url: SecretStr | None = None

    @field_validator("pinecone_namespace", mode="before")
    @classmethod
    def _namespace_is_explicit(cls, value: object) -> object:
        # The index's default namespace is named "__default__" on every call (an alias since API 2025-04; the SDK
        # speaks 2026-07). "" is refused: the SDK drops an empty namespace from some calls and sends it on others.
        if value == "":
            raise ValueError("must not be empty; to use the index's default namespace, set it to '__default__'")
        if isinstance(value, str) and not value.isascii():
            raise ValueError("must be ASCII (1-512 characters), or '__default__' for the default namespace")
        return value


def load_settings() -> Settings:
    """Read settings from the environment, turning a validation error into one naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors())
        raise SettingsError(f"invalid configuration: {problems}") from None


def require(settings: Settings, *names: str) -> None:
    """Fail before any work when a setting a command needs is unset, naming every missing variable."""
    missing = [name.upper() for name in names if getattr(settings, name.lower()) in (None, "")]
    if missing:
        raise SettingsError(f"missing required setting(s): {', '.join(missing)}")
