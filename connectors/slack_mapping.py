"""Pure Slack mappers: messages → thread and day Documents, mention rewriting, permalinks, ids.

Two kinds of document per channel (``connectors/slack.py`` decides which messages go where):

- a **thread** (parent + every reply) is one document ``slack:<channel>:<thread_ts>``, anchored at the parent's ts;
  its ``updated_at`` is the newest of the parent's ts, its latest reply and any edit;
- the channel's **other messages of one UTC day** are one document ``slack:<channel>:<YYYY-MM-DD>``, anchored at
  that day; a thread parent is never also in its day document. Its ``updated_at`` is the newest ``ts``,
  ``edited.ts`` or ``latest_reply`` over the day's top-level messages, thread parents included: when a message
  becomes a thread parent (it leaves the day document), the rewritten day document is newer than the stored one,
  so ingest lets it replace the stored copy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ingest.document import Document, MetadataValue
from ingest.metadata import MAX_LIST_ITEM_BYTES, MAX_LIST_ITEMS

__all__ = [
    "HOUSEKEEPING_SUBTYPES",
    "ChannelInfo",
    "MembersTooLarge",
    "day_doc_id",
    "day_document",
    "day_start",
    "is_bot_message",
    "is_content",
    "is_day_message",
    "is_thread_parent",
    "message_changed_at",
    "parse_doc_id",
    "permalink",
    "render_text",
    "thread_doc_id",
    "thread_document",
    "ts_datetime",
    "ts_of",
]

# Channel events, not conversation: "Ana has joined the channel" helps nobody find anything.
HOUSEKEEPING_SUBTYPES = frozenset(
    {
        "channel_join", "channel_leave", "channel_archive", "channel_unarchive", "channel_name", "channel_purpose",
        "channel_topic", "channel_posting_permissions", "channel_convert_to_private", "channel_convert_to_public",
        "group_join", "group_leave", "group_archive", "group_unarchive", "group_name", "group_purpose",
        "group_topic", "pinned_item", "unpinned_item", "ekm_access_denied", "tombstone", "reminder_add",
        "joiner_notification", "bot_add", "bot_remove", "app_conversation_join", "sh_room_created",
    }
)  # fmt: skip
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL_REF = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_DAY_ID = re.compile(r"\d{4}-\d{2}-\d{2}")
_TS = re.compile(r"\d{1,12}\.\d{6}")


class MembersTooLarge(ValueError):
    """A private channel's member list does not fit a document's metadata: the document fails, never cut."""


@dataclass(frozen=True)
class ChannelInfo:
    """What every document of a channel carries about it (from ``conversations.info``/``conversations.list``)."""

    id: str
    name: str
    is_private: bool
    is_archived: bool = False
    is_member: bool = True
    created: int = 0
    members: tuple[str, ...] = ()  # private channels only: the member ids (conversations.members)

    @property
    def label(self) -> str:
        """How people name it in reports: ``#ops (C0123ABCD)``."""
        return f"#{self.name} ({self.id})"

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> ChannelInfo:
        return cls(
            id=str(raw["id"]),
            name=str(raw.get("name") or raw["id"]),
            is_private=bool(raw.get("is_private")),
            is_archived=bool(raw.get("is_archived")),
            is_member=bool(raw.get("is_member")),
            created=int(raw.get("created") or 0),
        )


# -- ts and ids ------------------------------------------------------------------------------------------------


def ts_datetime(ts: str) -> datetime:
    """Slack's ``ts`` ("<epoch s>.<6 digits>", a string) as aware UTC; ValueError when it is not one."""
    if not isinstance(ts, str) or not _TS.fullmatch(ts):
        raise ValueError(f"not a Slack ts: {ts!r}")
    seconds, micros = ts.split(".")
    return datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=int(micros))


def ts_of(instant: datetime) -> str:
    """The ``ts`` string of an instant (for ``oldest``/``latest``)."""
    seconds = instant.astimezone(UTC).timestamp()
    whole = int(seconds // 1)
    return f"{whole}.{round((seconds - whole) * 1_000_000):06d}"


def day_start(instant: datetime) -> datetime:
    """Midnight UTC of ``instant``'s day."""
    return instant.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def thread_doc_id(channel_id: str, thread_ts: str) -> str:
    return f"slack:{channel_id}:{thread_ts}"


def day_doc_id(channel_id: str, day: date) -> str:
    return f"slack:{channel_id}:{day.isoformat()}"


def parse_doc_id(doc_id: str) -> tuple[str, datetime] | None:
    """``(channel id, the UTC day the document is anchored on)`` of a Slack document id; None if not one."""
    prefix, _, rest = doc_id.partition(":")
    channel, _, anchor = rest.partition(":")
    if prefix != "slack" or not channel:
        return None
    try:
        if _DAY_ID.fullmatch(anchor):
            return channel, datetime.fromisoformat(anchor).replace(tzinfo=UTC)
        return channel, day_start(ts_datetime(anchor))
    except ValueError:
        return None


def permalink(team_domain: str, channel_id: str, ts: str, thread_ts: str | None = None) -> str:
    """The message's link, built as Slack builds it (no ``chat.getPermalink`` call per message)."""
    link = f"https://{team_domain}.slack.com/archives/{channel_id}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel_id}"
    return link


# -- messages --------------------------------------------------------------------------------------------------


def is_bot_message(msg: Mapping[str, Any]) -> bool:
    # The subtype alone misses app posts that carry a bot_id (reference §1.4).
    return msg.get("subtype") == "bot_message" or bool(msg.get("bot_id")) or bool(msg.get("app_id"))


def is_content(msg: Mapping[str, Any], include_bots: bool) -> bool:
    """Whether a message belongs in a document: no housekeeping subtypes; bot posts only when configured."""
    if msg.get("subtype") in HOUSEKEEPING_SUBTYPES:
        return False
    return include_bots or not is_bot_message(msg)


def is_thread_parent(msg: Mapping[str, Any]) -> bool:
    """A top-level message that started a thread (its replies are not in ``conversations.history``)."""
    return msg.get("thread_ts") == msg.get("ts") and bool(msg.get("reply_count") or msg.get("latest_reply"))


def message_changed_at(msg: Mapping[str, Any]) -> datetime:
    """The newest of the message's ts, its edit and (a thread parent) its latest reply."""
    times = [ts_datetime(str(msg["ts"]))]
    edited = msg.get("edited")
    if isinstance(edited, Mapping) and edited.get("ts"):
        times.append(ts_datetime(str(edited["ts"])))
    if msg.get("latest_reply"):
        times.append(ts_datetime(str(msg["latest_reply"])))
    return max(times)


def render_text(text: str, names: Mapping[str, str]) -> str:
    """Slack markup → readable text: ``<@U…>`` → ``@name``, ``<#C…|name>`` → ``#name``, links → their label."""
    text = _MENTION.sub(lambda m: "@" + (names.get(m.group(1)) or m.group(2) or m.group(1)), text)
    text = _CHANNEL_REF.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) else m.group(1), text)
    text = _SPECIAL.sub(lambda m: "@" + m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def author(msg: Mapping[str, Any], names: Mapping[str, str]) -> str:
    if msg.get("user"):
        return names.get(str(msg["user"])) or str(msg["user"])
    profile = msg.get("bot_profile") if isinstance(msg.get("bot_profile"), Mapping) else {}
    return str(msg.get("username") or profile.get("name") or msg.get("bot_id") or "unknown")


def _line(msg: Mapping[str, Any], names: Mapping[str, str], fmt: str) -> str:
    when = ts_datetime(str(msg["ts"])).strftime(fmt)
    body = render_text(str(msg.get("text") or ""), names).strip()
    files = [str(f.get("name") or f.get("title")) for f in msg.get("files") or [] if isinstance(f, Mapping)]
    if files:
        body = f"{body} [files: {', '.join(files)}]".strip()
    edited = " (edited)" if msg.get("edited") else ""
    return f"[{when}] {author(msg, names)}: {body}{edited}"


def user_ids(messages: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every user id the messages name: authors and ``<@U…>`` mentions (to resolve before mapping)."""
    found: set[str] = set()
    for msg in messages:
        if msg.get("user"):
            found.add(str(msg["user"]))
        found.update(m.group(1) for m in _MENTION.finditer(str(msg.get("text") or "")))
    return found


# -- documents ---------------------------------------------------------------------------------------------------


def _channel_fields(channel: ChannelInfo) -> tuple[dict[str, MetadataValue], list[str]]:
    """Metadata every document of ``channel`` carries, and its acl (see core/acl.py: ``slack:channel:<id>``)."""
    metadata: dict[str, MetadataValue] = {
        "channel_id": channel.id,
        "channel_name": channel.name,
        "channel_private": channel.is_private,
    }
    if channel.is_private:
        members = sorted(channel.members)
        too_long = [m for m in members if len(m.encode()) > MAX_LIST_ITEM_BYTES]
        if len(members) > MAX_LIST_ITEMS or too_long or not members:
            raise MembersTooLarge(
                f"private channel {channel.label} has {len(members)} member ids; a document carries at most "
                f"{MAX_LIST_ITEMS} and an empty list would hide who may read it: not stored (never cut)"
            )
        metadata["channel_members"] = members
    return metadata, [f"slack:channel:{channel.id}"]


def thread_document(
    channel: ChannelInfo,
    messages: Sequence[Mapping[str, Any]],
    names: Mapping[str, str],
    team_domain: str,
    include_bots: bool,
) -> Document:
    """Pure mapper: a thread (``messages`` = parent first, then the replies) → one Document."""
    parent = messages[0]
    thread_ts = str(parent["ts"])
    shown = [m for m in messages if is_content(m, include_bots)]
    lines = [_line(m, names, "%Y-%m-%d %H:%M") for m in shown]
    first = render_text(str(parent.get("text") or ""), names).strip().splitlines()
    changed = max(message_changed_at(m) for m in messages)
    metadata, acl = _channel_fields(channel)
    metadata.update(
        {
            "kind": "thread",
            "thread_ts": thread_ts,
            "day": ts_datetime(thread_ts).date().isoformat(),
            "message_count": len(shown),
            "reply_count": len(messages) - 1,
            "authors": sorted({author(m, names) for m in shown})[:MAX_LIST_ITEMS],
        }
    )
    return Document(
        id=thread_doc_id(channel.id, thread_ts),
        source="slack",
        title=f"#{channel.name} thread: {(first[0] if first else '')[:80]}".rstrip(": "),
        text="\n".join(lines),
        url=permalink(team_domain, channel.id, thread_ts),
        created_at=ts_datetime(thread_ts),
        updated_at=changed,
        metadata=metadata,
        acl=acl,
    )


def day_document(
    channel: ChannelInfo,
    day: date,
    top_level: Sequence[Mapping[str, Any]],
    names: Mapping[str, str],
    team_domain: str,
    include_bots: bool,
) -> Document:
    """Pure mapper: one UTC day of a channel's top-level messages → its day Document.

    ``top_level`` holds every top-level message of the day (thread parents too, for ``updated_at``); the text
    holds those that are neither thread parents nor replies shown in the channel (``thread_broadcast``), nor
    housekeeping. With none left, the text is empty: the document replaces a stored copy whose messages all
    moved into threads.
    """
    ordered = sorted(top_level, key=lambda m: ts_datetime(str(m["ts"])))
    shown = [m for m in ordered if is_content(m, include_bots) and is_day_message(m)]
    metadata, acl = _channel_fields(channel)
    metadata.update(
        {
            "kind": "day",
            "day": day.isoformat(),
            "message_count": len(shown),
            "authors": sorted({author(m, names) for m in shown})[:MAX_LIST_ITEMS],
        }
    )
    anchor = shown[0] if shown else ordered[0]
    return Document(
        id=day_doc_id(channel.id, day),
        source="slack",
        title=f"#{channel.name} on {day.isoformat()}",
        text="\n".join(_line(m, names, "%H:%M") for m in shown),
        url=permalink(team_domain, channel.id, str(anchor["ts"])),
        created_at=ts_datetime(str(ordered[0]["ts"])),
        updated_at=max(message_changed_at(m) for m in ordered),
        metadata=metadata,
        acl=acl,
    )


def is_day_message(msg: Mapping[str, Any]) -> bool:
    """Neither a thread parent (its thread is its document) nor a reply also sent to the channel."""
    thread_ts = msg.get("thread_ts")
    return not thread_ts or (thread_ts == msg.get("ts") and not is_thread_parent(msg))
