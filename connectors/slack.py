"""Slack Web API → Documents: one per thread, one per channel per UTC day for the other messages.

Partitions are one channel × a slice of time aligned to UTC days (``slice_bounds``, the first start floored to
midnight), so a day document is always rebuilt from its whole day. ``conversations.history`` returns top-level
messages only; a thread's replies come from ``conversations.replies`` and arrive later than the parent, so an
incremental run reaches back ``thread_lookback_days`` before its window and re-reads history there: it fetches
replies only of parents whose ``latest_reply`` (or own ts/edit) is at or after the window's start
(``Partition.changed_since``), re-emits those threads and the day documents of their days, and says in a
``RunNote`` how far back it looked. A thread older than that is caught by a wider lookback or a full run.

The calls themselves (tiers, ``ok:false`` errors, caches, non-Marketplace progress) are ``SlackApi`` in
connectors/slack_api.py; flows/slack.py forwards its logger ``connectors.slack`` to the run's log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

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
from connectors.errors import AuthError
from connectors.slack_api import SlackApi, SlackApiError, SlackConfig, UnknownChannelError, active_fetch, log
from connectors.slack_mapping import (
    ChannelInfo,
    day_doc_id,
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
from ingest.document import Document

__all__ = ["DEFAULT_THREAD_LOOKBACK_DAYS", "SlackApiError", "SlackConfig", "SlackConnector", "UnknownChannelError"]

SLICE_MONTHS = 6
# What fetch reports as a skipped channel instead of failing the run: the app may not read it (any more).
_UNREADABLE = {"not_in_channel", "channel_not_found", "is_archived", "method_not_supported_for_channel_type"}
# channel (with members), top-level messages by UTC day, changed threads, days with a changed thread, failures
_Read = tuple[
    ChannelInfo,
    dict[date, list[Mapping[str, Any]]],
    list[list[Mapping[str, Any]]],
    set[date],
    list[FetchFailure],
]
DEFAULT_THREAD_LOOKBACK_DAYS = 30  # what the flow and the CLI re-scan for late replies unless told otherwise


class SlackConnector(SlackApi):
    """The Slack connector: ``partitions``, ``fetch``, ``refetch_partitions``, ``check``, ``list_ids``."""

    def __enter__(self) -> SlackConnector:
        return self

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
            return f"could not join: {exc.code}"
        except AuthError as exc:
            # A token without channels:join still reads the channels it is in: skip this one, fail nothing.
            if "missing_scope" not in str(exc):
                raise
            return "could not join: the app lacks the channels:join scope (add it and reinstall, or invite the app)"
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
        """One partition per (channel, UTC day) a failed document is anchored on: its id carries both.

        Days inside the window too: an incremental window's partitions emit only what changed since its start, so
        an unchanged failed document there would otherwise be taken as deleted. Read twice, it is the same copy.
        """
        days: set[tuple[str, datetime]] = set()
        for doc_id in doc_ids:
            parsed = parse_doc_id(doc_id)
            if parsed is not None and parsed[1] < window.end:
                days.add(parsed)
        return [
            Partition(source=self.source, scope=channel, start=day, end=day + timedelta(days=1))
            for channel, day in sorted(days)
        ]

    # -- fetch -------------------------------------------------------------------------------------------------

    def fetch(self, partition: Partition) -> Iterator[FetchItem]:
        """The partition's thread and day documents (all, or those changed since ``changed_since``).

        Every call to Slack happens before the first document is yielded, so a channel that turns out unreadable
        half-way (the app was removed, the channel deleted) is reported as skipped, with nothing of it emitted.
        """
        try:
            channel = self._channel_for_fetch(partition.scope, partition)
            why = self._ensure_member(channel, partition)
            if why is not None:
                yield SkippedScope(scope=channel.label, reason=why)
                return
            read = self._read(channel, partition)
        except SlackApiError as exc:
            if exc.code not in _UNREADABLE:
                raise
            yield SkippedScope(scope=partition.scope, reason=f"{exc.code}: the app cannot read this channel now")
            return
        channel, by_day, threads, changed_days, failed = read
        created = day_start(datetime.fromtimestamp(channel.created, partition.start.tzinfo))
        if partition.changed_since is not None and created < partition.start < partition.changed_since:
            # The slice that reaches back (not clamped by the channel's creation: nothing older exists there).
            yield self._lookback_note(partition)
        names = self._names({u for ms in [*by_day.values(), *threads] for u in user_ids(ms)}, partition)
        domain = self._team_domain()
        include = self.config.include_bot_messages
        yield from failed
        for thread in threads:
            yield self._mapped(
                thread_doc_id(channel.id, str(thread[0]["ts"])),
                lambda t=thread: map_thread(channel, t, names, domain, include),
            )
        for day, messages in sorted(by_day.items()):
            has_text = any(is_content(m, include) and is_day_message(m) for m in messages)
            newest = max(message_changed_at(m) for m in messages)
            if partition.changed_since is not None and newest < partition.changed_since:
                continue  # unchanged since the last run: its stored copy is current
            if not has_text and not (partition.changed_since is not None and day in changed_days):
                continue  # no day document: only thread parents or housekeeping (a full run lists none)
            yield self._mapped(
                day_doc_id(channel.id, day),
                lambda d=day, ms=messages: day_document(channel, d, ms, names, domain, include),
            )

    def _read(self, channel: ChannelInfo, partition: Partition) -> _Read:
        """Members (private channels), history and the changed threads' replies; unreadable messages as failures."""
        if channel.is_private:
            channel = self._with_members(channel, partition)
        start = day_start(partition.start)
        with active_fetch:
            top = self._history(channel, start, partition.end, partition)
        by_day: dict[date, list[Mapping[str, Any]]] = {}
        threads: list[list[Mapping[str, Any]]] = []
        changed_days: set[date] = set()
        failed: list[FetchFailure] = []
        for msg in top:
            try:
                when = ts_datetime(str(msg["ts"]))
                changed = message_changed_at(msg) >= (partition.changed_since or when)
            except MAPPING_ERRORS as exc:
                reason = f"unreadable message: {type(exc).__name__}: {exc}"[:1000]
                failed.append(FetchFailure(id=day_doc_id(channel.id, start.date()), reason=reason))
                continue
            by_day.setdefault(when.date(), []).append(msg)
            if is_thread_parent(msg) and changed:
                changed_days.add(when.date())
                threads.append(self._replies(channel, str(msg["ts"]), partition))
        return channel, by_day, threads, changed_days, failed

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
    def _mapped(doc_id: str, build: Callable[[], Document]) -> Document | FetchFailure:
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
            "limit": self.page_size,
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
            "limit": self.page_size,
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

    # -- pruning -----------------------------------------------------------------------------------------------

    def list_ids(self, scope: str) -> Iterator[str]:
        """Every live document id of channel ``scope``: its day documents and threads, over its whole history."""
        channel = self._channel_for_fetch(scope, None)
        if not channel.is_member:
            return
        include = self.config.include_bot_messages
        days: set[str] = set()
        params = {"channel": scope, "limit": self.page_size}
        for page in self._pages("conversations.history", params):
            for msg in page.get("messages") or []:
                if is_thread_parent(msg):
                    yield thread_doc_id(scope, str(msg["ts"]))
                elif is_content(msg, include) and is_day_message(msg):
                    day = ts_datetime(str(msg["ts"])).date().isoformat()
                    if day not in days:
                        days.add(day)
                        yield f"slack:{scope}:{day}"
