"""The Slack Web API as the Slack connector calls it: one client per method, each paced by its rate-limit tier
with its own cool-down, ``ok:false`` bodies mapped into connectors/errors.py (``_body_error``, the shared HTTP
layer's ``BodyCheck``), cursor pages checked for their list, per-process caches of user names and the team's
domain, and the non-Marketplace progress lines (logger ``connectors.slack``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.auth import BearerAuth
from connectors.base import Partition
from connectors.errors import (
    AuthError,
    ConnectorError,
    MalformedResponseError,
    PaginationError,
    RateLimitedError,
    RejectedRequestError,
    TransientError,
)
from connectors.http import ApiClient, CursorPaginator, PageRequest, RetryPolicy, make_client
from connectors.ratelimit import RateLimiter
from connectors.slack_mapping import ChannelInfo, ts_datetime
from core.pacing import shared_cooldown
from core.settings import Settings, require

__all__ = ["SlackApi", "SlackApiError", "SlackConfig", "UnknownChannelError", "active_fetch", "log"]

log = logging.getLogger("connectors.slack")

TIERS_PER_MINUTE = {"tier2": 20.0, "tier3": 50.0, "tier4": 100.0, "special": 600.0}
_METHOD_TIER = {
    "conversations.list": "tier2",
    "users.list": "tier2",
    "conversations.history": "tier3",
    "conversations.replies": "tier3",
    "conversations.join": "tier3",
    "conversations.info": "tier3",
    "conversations.members": "tier4",
    "users.info": "tier4",
    "auth.test": "special",
}
# The list each paged method answers with (a missing or non-list one is a malformed page, never "no items").
_LISTS = {
    "conversations.list": "channels",
    "conversations.history": "messages",
    "conversations.replies": "messages",
    "conversations.members": "members",
}
_TIER1_METHODS = {"conversations.history", "conversations.replies"}
PAGE_SIZE = 200  # Slack's advice for history/replies; the non-Marketplace limit is 15
NON_MARKETPLACE_PAGE = 15
_AUTH_CODES = {
    "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "missing_scope",
    "not_allowed_token_type", "no_permission", "org_login_required", "team_added_to_org", "ekm_access_denied",
}  # fmt: skip
_TRANSIENT_CODES = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}


def _key(partition: object | None) -> str | None:
    return None if partition is None else str(getattr(partition, "key", partition))


class SlackApiError(RejectedRequestError):
    """An ``ok:false`` Slack error that is neither auth, rate limit nor transient; ``code`` is Slack's."""

    def __init__(self, message: str, *, code: str, **where: Any) -> None:
        super().__init__(message, status_code=200, **where)
        self.code = code


class UnknownChannelError(ConnectorError):
    """A channel filter names a channel the bot cannot see (a typo, or a private channel it is not in)."""


def _body_error(data: Any, where: dict[str, Any]) -> ConnectorError | None:
    """Slack's ``ok:false`` in an HTTP 200 → the error taxonomy (the HTTP layer's ``BodyCheck``)."""
    if not isinstance(data, Mapping) or data.get("ok") is not False:
        return None
    code = str(data.get("error") or "unknown_error")
    part = f" [partition {where['partition']}]" if where.get("partition") else ""
    label = f"Slack {where['endpoint']}"
    if code in _AUTH_CODES:
        needed = f" (needs scope {data['needed']})" if data.get("needed") else ""
        return AuthError(f"Slack refused SLACK_BOT_TOKEN: {code}{needed} on {where['endpoint']}{part}", **where)
    if code == "ratelimited":
        return RateLimitedError(f"{label}: ratelimited{part}", **where)
    if code in _TRANSIENT_CODES:
        return TransientError(f"{label}: {code}{part}", **where)
    return SlackApiError(f"{label}: Slack error {code!r}{part}", code=code, **where)


class SlackConfig(BaseModel):
    """What the Slack connector needs, typed."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    url: str
    bot_token: SecretStr
    join_public_channels: bool = True
    include_bot_messages: bool = False
    non_marketplace: bool = False
    tier1_interval_s: float = 60.0
    rate_per_s: float | None = None  # replaces every tier's pace when set
    retry: RetryPolicy = Field(default_factory=RetryPolicy)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> SlackConfig:
        """SLACK_API_URL, SLACK_BOT_TOKEN and the SLACK_* behaviour and pacing settings."""
        require(settings, "slack_bot_token")
        values: dict[str, Any] = {
            "url": str(settings.slack_api_url).rstrip("/"),
            "bot_token": settings.slack_bot_token,
            "join_public_channels": settings.slack_join_public_channels,
            "include_bot_messages": settings.slack_include_bot_messages,
            "non_marketplace": settings.slack_non_marketplace,
            "tier1_interval_s": settings.slack_tier1_interval_s,
            "rate_per_s": settings.slack_rate_per_s,
            "retry": RetryPolicy.from_settings(settings),
        }
        return cls(**{**values, **overrides})


_CACHE_LOCK = threading.Lock()
_LIMITERS: dict[tuple[str, float, float], RateLimiter] = {}


def _method_limiter(method: str, rate: float, burst: float) -> RateLimiter:
    """The process-wide limiter of one Slack method (every connector's fetch task shares it), with its own
    cool-down: Slack limits "per method per workspace per app". ``tier1`` is history/replies' non-Marketplace pace."""
    key = (method, rate, burst)
    with _CACHE_LOCK:
        if key not in _LIMITERS:
            _LIMITERS[key] = RateLimiter(rate, burst, cooldown=shared_cooldown(f"slack {method}"))
        return _LIMITERS[key]


class _Active:
    """How many partitions are being fetched in this process right now (they share the Tier 1 pace)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.count += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.count -= 1


_ACTIVE = _Active()
active_fetch = _ACTIVE  # entered while a slice's history is read

# Per process, shared by every connector (each fetch task builds its own): names and the team's domain.
_USER_NAMES: dict[tuple[str, str], str] = {}
_TEAM_DOMAINS: dict[str, str] = {}


class SlackApi:
    """The calls: ``_call`` (one request), ``_pages`` (a cursor listing), names, members, the team's domain."""

    source = "slack"
    display = "Slack"

    def __init__(self, config: SlackConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.base_url = config.url
        auth = BearerAuth(config.bot_token, setting="SLACK_BOT_TOKEN")
        self._tier1 = _method_limiter("tier1", 1.0 / config.tier1_interval_s, 1.0)
        self._clients: dict[str, ApiClient] = {}
        for method, tier in _METHOD_TIER.items():
            if config.rate_per_s:
                limiter = _method_limiter(method, config.rate_per_s, max(1.0, config.rate_per_s))
            else:
                # Slack counts per method per minute and tolerates bursts: half a minute's quota at once, then
                # the tier's steady pace. Each method has its own cool-down: a 429 on history never stalls users.
                per_minute = TIERS_PER_MINUTE[tier]
                limiter = _method_limiter(method, per_minute / 60.0, per_minute / 2)
            self._clients[method] = self._make(auth, transport, limiter)
        self._clients["tier1"] = self._make(auth, transport, self._tier1)
        self._channels: dict[str, ChannelInfo] | None = None

    def _make(self, auth: httpx.Auth, transport: httpx.BaseTransport | None, limiter: RateLimiter) -> ApiClient:
        return make_client(
            "slack", self.base_url, auth, transport=transport, retry=self.config.retry, display=self.display,
            limiter=limiter, body_check=_body_error,
        )  # fmt: skip

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def page_size(self) -> int:
        """History/replies messages per page: Slack's advice, or the non-Marketplace maximum."""
        return NON_MARKETPLACE_PAGE if self.config.non_marketplace else PAGE_SIZE

    # -- calls -------------------------------------------------------------------------------------------------

    def _client(self, method: str) -> ApiClient:
        if self.config.non_marketplace and method in _TIER1_METHODS:
            return self._clients["tier1"]
        return self._clients[method]

    def _call(self, method: str, params: Mapping[str, Any], partition: object | None = None) -> dict[str, Any]:
        data: dict[str, Any] = self._client(method).get_json(
            "GET", method, params=dict(params), endpoint_label=f"GET {method}", partition=partition
        )
        return data

    def _pages(
        self, method: str, params: Mapping[str, Any], partition: object | None = None
    ) -> Iterator[dict[str, Any]]:
        pager = CursorPaginator(
            PageRequest.build("GET", method, dict(params)),
            path_to_cursor=("response_metadata", "next_cursor"),
            param="cursor",
        )
        client = self._client(method)
        label = f"GET {method}"
        for page in client.paginate(pager, endpoint_label=label, partition=partition):
            data = page.data
            where = {"source": self.source, "endpoint": label, "partition": _key(partition)}
            part = f" [partition {where['partition']}]" if where["partition"] else ""
            listed = _LISTS.get(method)
            if listed and not (isinstance(data.get(listed), list) and all(
                isinstance(item, Mapping | str) for item in data[listed]
            )):  # fmt: skip
                raise MalformedResponseError(f"Slack {label}: no list in {listed!r}{part}", **where)
            if data.get("has_more") is True and not (data.get("response_metadata") or {}).get("next_cursor"):
                # Slack says an empty cursor ends a listing; with has_more true the page contradicts itself:
                # fail the partition rather than commit a listing that may be cut short.
                raise PaginationError(f"Slack {label}: has_more is true but next_cursor is empty{part}", **where)
            yield data

    def check(self) -> None:
        """``auth.test``: one cheap call; an ``invalid_auth`` raises AuthError naming SLACK_BOT_TOKEN."""
        self._team_domain(fresh=True)

    def _team_domain(self, *, fresh: bool = False) -> str:
        """The workspace's subdomain (for permalinks), from ``auth.test`` once per process."""
        with _CACHE_LOCK:
            known = None if fresh else _TEAM_DOMAINS.get(self.base_url)
        if known is None:
            url = str(self._call("auth.test", {}).get("url") or "")
            known = httpx.URL(url).host.split(".")[0] if url else "slack"
            with _CACHE_LOCK:
                _TEAM_DOMAINS[self.base_url] = known
        return known

    def _progress(
        self,
        channel: ChannelInfo,
        what: str,
        number: int,
        count: int,
        start: datetime,
        end: datetime,
        batch: Sequence[Mapping[str, Any]],
        page: Mapping[str, Any],
    ) -> None:
        """Under the non-Marketplace limit a partition takes minutes: say where it is and about how long is left."""
        if not self.config.non_marketplace:
            return
        wait = self._tier1.next_free_in()
        more = bool((page.get("response_metadata") or {}).get("next_cursor"))
        left = "done with history"
        if more and batch:
            # History comes newest first: the share of the slice read so far estimates the pages still to come.
            # Slices fetched at the same time share the one-a-minute pace, so each waits that many turns.
            oldest = min(ts_datetime(str(m["ts"])) for m in batch if "ts" in m)
            share = max((end - oldest) / (end - start), 1e-6)
            pages_left = max(1, round(number * (1 - share) / share))
            seconds = pages_left * self.config.tier1_interval_s * max(1, _ACTIVE.count)
            when = f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
            left = f"about {when} left for this slice ({pages_left} more pages, then its threads)"
        log.info(
            "slack #%s: page %d, %d messages; next request in %.0f s; %s",
            channel.name, number, count, wait, left,
        )  # fmt: skip

    def _with_members(self, channel: ChannelInfo, partition: Partition) -> ChannelInfo:
        members: list[str] = []
        for page in self._pages("conversations.members", {"channel": channel.id, "limit": 200}, partition):
            members.extend(str(m) for m in page.get("members") or [])
        return dataclasses.replace(channel, members=tuple(dict.fromkeys(members)))

    def _names(self, ids: set[str], partition: Partition | None) -> dict[str, str]:
        """User id → display name, from a per-process cache filled by ``users.info`` (Tier 4)."""
        names: dict[str, str] = {}
        for user in sorted(ids):
            key = (self.base_url, user)
            with _CACHE_LOCK:
                known = _USER_NAMES.get(key)
            if known is None:
                try:
                    raw = self._call("users.info", {"user": user}, partition).get("user") or {}
                except SlackApiError as exc:
                    if exc.code not in {"user_not_found", "user_not_visible"}:
                        raise
                    raw = {}
                profile = raw.get("profile") or {}
                known = str(profile.get("display_name") or profile.get("real_name") or raw.get("name") or user)
                with _CACHE_LOCK:
                    _USER_NAMES[key] = known
            names[user] = known
        return names
