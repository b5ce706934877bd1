"""Slack Web API → Documents: one per thread, one per channel per UTC day for the other messages.

Partitions are one channel × a slice of time aligned to UTC days (``slice_bounds``, the first start floored to
midnight), so a day document is always rebuilt from its whole day. ``conversations.history`` returns top-level
messages only; a thread's replies come from ``conversations.replies`` and arrive later than the parent, so an
incremental run reaches back ``thread_lookback_days`` before its window and re-reads history there: it fetches
replies only of parents whose ``latest_reply`` (or own ts/edit) is at or after the window's start
(``Partition.changed_since``), re-emits those threads and the day documents of their days, and says in a
``RunNote`` how far back it looked. A thread older than that is caught by a wider lookback or a full run.

Errors come as HTTP 200 ``ok:false``; ``_body_error`` maps them into connectors/errors.py inside the shared HTTP
layer. Each method is paced by its rate-limit tier; ``SLACK_NON_MARKETPLACE`` paces history/replies at one
request per ``SLACK_TIER1_INTERVAL_S`` with 15 messages a page and logs progress with an estimate of the time
left (logger ``connectors.slack``; flows/slack.py forwards it to the run's log).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.auth import BearerAuth
from connectors.base import (
    MAPPING_ERRORS,
    FetchFailure,
    FetchItem,
    Partition,
    RunNote,
    SkippedScope,
    Window,
    slice_bounds,
)
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
from connectors.slack_mapping import (
    ChannelInfo,
    day_document,
    day_start,
    is_content,
    is_day_message,
    is_thread_parent,
    message_changed_at,
    parse_doc_id,
    thread_doc_id,
    ts_datetime,
    ts_of,
    user_ids,
)
from connectors.slack_mapping import thread_document as map_thread
from core.pacing import shared_cooldown
from core.settings import Settings, require
from ingest.document import Document

__all__ = ["DEFAULT_THREAD_LOOKBACK_DAYS", "SlackApiError", "SlackConfig", "SlackConnector", "UnknownChannelError"]

log = logging.getLogger("connectors.slack")

SLICE_MONTHS = 6
DEFAULT_THREAD_LOOKBACK_DAYS = 30  # what the flow and the CLI re-scan for late replies unless told otherwise
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
# What ``fetch`` reports as a skipped channel instead of failing the run.
_UNREADABLE = {"not_in_channel", "is_archived", "channel_not_found", "method_not_supported_for_channel_type"}


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

# Per process, shared by every connector (each fetch task builds its own): names and the team's domain.
_USER_NAMES: dict[tuple[str, str], str] = {}
_TEAM_DOMAINS: dict[str, str] = {}


class SlackConnector:
    """The Slack connector: ``partitions``, ``fetch``, ``refetch_partitions``, ``check``, ``list_ids``."""

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

    def __enter__(self) -> SlackConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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

    # -- channels ----------------------------------------------------------------------------------------------

    def channels(self, *, include_archived: bool = False) -> dict[str, ChannelInfo]:
        """Public and private channels the bot can see (private: only those it is in), by id."""
        if self._channels is None:
            found: dict[str, ChannelInfo] = {}
            params = {"types": "public_channel,private_channel", "limit": 200}
            for page in self._pages("conversations.list", params):
                for raw in page.get("channels") or []:
                    info = ChannelInfo.from_api(raw)
                    found[info.id] = info
            self._channels = found
        return {k: c for k, c in self._channels.items() if include_archived or not c.is_archived}

    def _selected(self, names_or_ids: Sequence[str] | None, include_archived: bool) -> list[ChannelInfo]:
        visible = self.channels(include_archived=True)
        if not names_or_ids:
            return sorted(self.channels(include_archived=include_archived).values(), key=lambda c: c.id)
        by_name = {c.name: c for c in visible.values()}
        chosen: dict[str, ChannelInfo] = {}
        unknown = []
        for wanted in names_or_ids:
            key = wanted.lstrip("#")
            channel = visible.get(key) or by_name.get(key)
            if channel is None:
                unknown.append(wanted)
            else:
                chosen[channel.id] = channel
        if unknown:
            raise UnknownChannelError(
                f"Slack: no channel {', '.join(repr(u) for u in unknown)} visible to the bot (a typo, or a private "
                "channel it is not a member of: invite the app there first)",
                source=self.source, endpoint="GET conversations.list",
            )  # fmt: skip
        return sorted(chosen.values(), key=lambda c: c.id)

    def _channel_for_fetch(self, channel_id: str, partition: Partition | None) -> ChannelInfo:
        raw = self._call("conversations.info", {"channel": channel_id}, partition)["channel"]
        return ChannelInfo.from_api(raw)

    def _ensure_member(self, channel: ChannelInfo, partition: Partition) -> str | None:
        """None when the bot may read ``channel`` (joining a public one if allowed), else why it may not."""
        if channel.is_member:
            return None
        if channel.is_private:
            return "the app is not a member of this private channel: invite it (/invite @app)"
        if channel.is_archived:
            return "archived and the app is not a member (archived channels cannot be joined)"
        if not self.config.join_public_channels:
            return "the app is not a member and SLACK_JOIN_PUBLIC_CHANNELS=false: invite it or enable joining"
        try:
            self._client("conversations.join").get_json(
                "POST", "conversations.join", json={"channel": channel.id}, endpoint_label="POST conversations.join",
                partition=partition,
            )  # fmt: skip
        except SlackApiError as exc:
            return f"could not join: {exc.code} (scope channels:join needed)"
        return None

    # -- partitions --------------------------------------------------------------------------------------------

    def partitions(
        self,
        window: Window,
        *,
        channels: Sequence[str] | None = None,
        include_archived: bool = False,
        thread_lookback_days: int = 0,
        **_filters: Any,
    ) -> list[Partition]:
        """Per channel, day-aligned slices from the window's start (or the channel's creation) to its end.

        With ``thread_lookback_days`` the slices reach that far before the window and carry
        ``changed_since=window.start``: only threads and days changed since then are fetched and emitted.
        """
        found: list[Partition] = []
        for channel in self._selected(channels, include_archived):
            created = day_start(datetime.fromtimestamp(channel.created, window.start.tzinfo))
            base = max(day_start(window.start), created)
            reach = max(day_start(window.start - timedelta(days=thread_lookback_days)), created)
            if base >= window.end:
                continue
            since = window.start if reach < base else None
            if not channel.is_member and (channel.is_archived or channel.is_private):
                # Cannot be joined: one partition whose fetch reports the channel as skipped.
                found.append(Partition(source=self.source, scope=channel.id, start=reach, end=window.end))
                continue
            for lo, hi in slice_bounds(Window(start=reach, end=window.end), SLICE_MONTHS):
                found.append(Partition(source=self.source, scope=channel.id, start=lo, end=hi, changed_since=since))
        return found

    def refetch_partitions(self, doc_ids: Sequence[str], since: datetime | None, window: Window) -> list[Partition]:
        """One partition per (channel, UTC day) a failed document is anchored on: its id carries both."""
        days: set[tuple[str, datetime]] = set()
        for doc_id in doc_ids:
            parsed = parse_doc_id(doc_id)
            if parsed is not None and parsed[1] < day_start(window.start):
                days.add(parsed)
        return [
            Partition(source=self.source, scope=channel, start=day, end=day + timedelta(days=1))
            for channel, day in sorted(days)
        ]

    # -- fetch -------------------------------------------------------------------------------------------------

    def fetch(self, partition: Partition) -> Iterator[FetchItem]:
        """The partition's thread and day documents (all, or those changed since ``changed_since``)."""
        channel = self._channel_for_fetch(partition.scope, partition)
        why = self._ensure_member(channel, partition)
        if why is not None:
            yield SkippedScope(scope=channel.label, reason=why)
            return
        created = day_start(datetime.fromtimestamp(channel.created, partition.start.tzinfo))
        if partition.changed_since is not None and created < partition.start < partition.changed_since:
            # The slice that reaches back (not clamped by the channel's creation: nothing older exists there).
            yield self._lookback_note(partition)
        if channel.is_private:
            channel = self._with_members(channel, partition)
        start = day_start(partition.start)
        with _ACTIVE:
            top = self._history(channel, start, partition.end, partition)
        names_needed = user_ids(top)
        threads: list[list[Mapping[str, Any]]] = []
        failed: list[FetchFailure] = []
        by_day: dict[date, list[Mapping[str, Any]]] = {}
        changed_days: set[date] = set()
        for msg in top:
            try:
                when = ts_datetime(str(msg["ts"]))
                changed = message_changed_at(msg) >= partition.changed_since if partition.changed_since else True
            except MAPPING_ERRORS as exc:
                reason = f"unreadable message: {type(exc).__name__}: {exc}"[:1000]
                failed.append(FetchFailure(id=f"slack:{channel.id}:{start.date().isoformat()}", reason=reason))
                continue
            by_day.setdefault(when.date(), []).append(msg)
            if is_thread_parent(msg) and changed:
                changed_days.add(when.date())
                thread = self._replies(channel, str(msg["ts"]), partition)
                names_needed |= user_ids(thread)
                threads.append(thread)
        names = self._names(names_needed, partition)
        domain = self._team_domain()
        yield from failed
        for thread in threads:
            yield self._mapped(
                thread_doc_id(channel.id, str(thread[0]["ts"])),
                lambda t=thread: map_thread(channel, t, names, domain, self.config.include_bot_messages),
            )
        include = self.config.include_bot_messages
        for day, messages in sorted(by_day.items()):
            has_text = any(is_content(m, include) and is_day_message(m) for m in messages)
            newest = max(message_changed_at(m) for m in messages)
            if partition.changed_since is not None and newest < partition.changed_since:
                continue  # unchanged since the last run: its stored copy is current
            if not has_text and not (partition.changed_since is not None and day in changed_days):
                continue  # no day document: only thread parents or housekeeping (a full run lists none)
            yield self._mapped(
                f"slack:{channel.id}:{day.isoformat()}",
                lambda d=day, ms=messages: day_document(channel, d, ms, names, domain, include),
            )

    def _lookback_note(self, partition: Partition) -> RunNote:
        assert partition.changed_since is not None
        days = (partition.changed_since - partition.start).days
        return RunNote(
            text=f"Slack: thread replies were re-scanned back to {partition.start.date().isoformat()} "
            f"({days} days before this run's window). A reply to an older thread is picked up with a wider "
            "lookback (`backfill run slack --thread-lookback-days N`, the flow parameter thread_lookback_days) "
            "or a full run (`--full`)."
        )

    @staticmethod
    def _mapped(doc_id: str, build: Any) -> Document | FetchFailure:
        try:
            doc: Document = build()
            return doc
        except MAPPING_ERRORS as exc:
            return FetchFailure(id=doc_id, reason=f"unmappable: {type(exc).__name__}: {exc}"[:1000])

    def _history(
        self, channel: ChannelInfo, start: datetime, end: datetime, partition: Partition | None
    ) -> list[Mapping[str, Any]]:
        """Top-level messages of ``[start, end)`` (Slack's oldest/latest are exclusive: oldest is moved back)."""
        params = {
            "channel": channel.id,
            "oldest": ts_of(start - timedelta(microseconds=1)),
            "latest": ts_of(end),
            "inclusive": "false",
            "limit": NON_MARKETPLACE_PAGE if self.config.non_marketplace else PAGE_SIZE,
        }
        messages: list[Mapping[str, Any]] = []
        seen: set[str] = set()
        for number, page in enumerate(self._pages("conversations.history", params, partition), start=1):
            batch = [m for m in page.get("messages") or [] if isinstance(m, Mapping)]
            for msg in batch:
                if str(msg.get("ts")) not in seen:
                    seen.add(str(msg.get("ts")))
                    messages.append(msg)
            self._progress(channel, "history", number, len(messages), start, end, batch, page)
        return messages

    def _replies(self, channel: ChannelInfo, thread_ts: str, partition: Partition | None) -> list[Mapping[str, Any]]:
        params = {
            "channel": channel.id,
            "ts": thread_ts,
            "limit": NON_MARKETPLACE_PAGE if self.config.non_marketplace else PAGE_SIZE,
        }
        thread: list[Mapping[str, Any]] = []
        seen: set[str] = set()
        for page in self._pages("conversations.replies", params, partition):
            for msg in page.get("messages") or []:
                if isinstance(msg, Mapping) and str(msg.get("ts")) not in seen:
                    seen.add(str(msg.get("ts")))
                    thread.append(msg)
            if self.config.non_marketplace:
                wait = self._tier1.next_free_in()
                log.info("slack %s: thread %s, %d messages; next request in %.0f s",
                         f"#{channel.name}", thread_ts, len(thread), wait)  # fmt: skip
        parent = next((m for m in thread if m.get("ts") == thread_ts), None)
        if parent is None:
            raise SlackApiError(
                f"Slack GET conversations.replies: thread {thread_ts} of {channel.label} came back without its parent",
                code="thread_without_parent", source=self.source, endpoint="GET conversations.replies",
            )  # fmt: skip
        return [parent, *sorted((m for m in thread if m is not parent), key=lambda m: str(m.get("ts")))]

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

    # -- pruning -----------------------------------------------------------------------------------------------

    def list_ids(self, scope: str) -> Iterator[str]:
        """Every live document id of channel ``scope``: its day documents and threads, over its whole history."""
        channel = self._channel_for_fetch(scope, None)
        if not channel.is_member:
            return
        include = self.config.include_bot_messages
        days: set[str] = set()
        params = {"channel": scope, "limit": NON_MARKETPLACE_PAGE if self.config.non_marketplace else PAGE_SIZE}
        for page in self._pages("conversations.history", params):
            for msg in page.get("messages") or []:
                if is_thread_parent(msg):
                    yield thread_doc_id(scope, str(msg["ts"]))
                elif is_content(msg, include) and is_day_message(msg):
                    day = ts_datetime(str(msg["ts"])).date().isoformat()
                    if day not in days:
                        days.add(day)
                        yield f"slack:{scope}:{day}"
