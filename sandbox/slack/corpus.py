"""A deterministic Slack workspace: users, channels of every kind, messages, threads with late replies.

Channels are listed eagerly (cheap); each channel's messages are generated on first use from a seed derived
from (seed, channel id), so a sandbox starts fast and the same seed always yields the same workspace. Messages
are kept in the shape ``conversations.history`` returns (Slack's spec: ``tests/specs/slack/``).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sandbox.text import TextGen

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_DOMAIN",
    "TEAM_ID",
    "Channel",
    "SlackCorpus",
    "format_ts",
    "refresh_thread_parent",
    "ts_key",
]

TEAM_ID = "T0SANDBOX01"
TEAM_DOMAIN = "backfill-sandbox"
BOT_USER_ID = "U0BACKFILL1"
BOT_ID = "B0BACKFILL1"
_DEPLOY_BOT_ID = "B0DEPLOYBOT"
_DEPLOY_APP_ID = "A0DEPLOYAPP"
_SPAN_DAYS = 730
_FIRST = (
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Eli",
    "Fay",
    "Gus",
    "Hana",
    "Ivo",
    "Jun",
    "Kai",
    "Lena",
    "Milo",
    "Nora",
)
_LAST = (
    "Park",
    "Silva",
    "Okafor",
    "Novak",
    "Ito",
    "Berg",
    "Costa",
    "Dubois",
    "Khan",
    "Meyer",
    "Rossi",
    "Sato",
)
_CHANNEL_NAMES = (
    "general",
    "engineering",
    "incidents",
    "deploys",
    "support",
    "product",
    "design",
    "data",
    "security",
    "mobile",
    "billing",
    "platform",
    "random",
    "releases",
    "oncall",
    "search",
    "payments",
    "growth",
    "infra",
    "qa",
    "docs",
    "sales-eng",
    "hiring",
    "ops",
    "analytics",
    "frontend",
    "backend",
    "api",
    "perf",
    "ml",
)


def _code(*parts: object, length: int = 9) -> str:
    """A stable upper-case id fragment (Slack ids are [A-Z0-9])."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest().upper()
    return digest[:length]


def format_ts(seconds: int, micros: int) -> str:
    """Slack's ``ts``: "<epoch seconds>.<6 digits>", a string, unique within a channel."""
    return f"{seconds}.{micros:06d}"


@dataclass
class Channel:
    id: str
    name: str
    created: int
    is_private: bool
    is_archived: bool
    is_member: bool  # is the bot in it?
    topic: str
    purpose: str
    weight: float
    listed: bool = True  # private channels the bot is not in are invisible to it


@dataclass
class ChannelData:
    """A channel's messages: thread parents and plain messages (``top``), and replies by parent ts."""

    top: dict[str, dict[str, Any]] = field(default_factory=dict)
    replies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class SlackCorpus:
    """The workspace for one (seed, scale, now). Message lists are built lazily per channel."""

    def __init__(self, seed: int, scale: float, now: datetime, jira_keys: list[str] | None = None) -> None:
        self.seed = seed
        self.scale = scale
        self.now = now
        self.start = int((now - timedelta(days=_SPAN_DAYS)).timestamp())
        self.end = int(now.timestamp())
        self.jira_keys = jira_keys or []
        self.users = self._make_users()
        self.channels = self._make_channels()
        self.total_messages = max(160, int(8000 * scale))
        self._data: dict[str, ChannelData] = {}
        self._members: dict[str, list[str]] = {}

    # ---- users -------------------------------------------------------------------------------------------
    def _make_users(self) -> dict[str, dict[str, Any]]:
        n = max(12, int(150 * self.scale))
        users: dict[str, dict[str, Any]] = {}
        for i in range(n):
            rng = random.Random(f"{self.seed}:slack:user:{i}")
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            uid = "U0" + _code(self.seed, "user", i)
            users[uid] = _user(
                uid,
                f"{first.lower()}.{last.lower()}{i}",
                f"{first} {last}",
                first,
                False,
                self.start + rng.randint(0, 86400 * 30),
            )
        users[BOT_USER_ID] = _user(BOT_USER_ID, "backfill", "Backfill", "backfill", True, self.start)
        return users

    @property
    def human_ids(self) -> list[str]:
        return [u for u in self.users if u != BOT_USER_ID]

    # ---- channels ----------------------------------------------------------------------------------------
    def _make_channels(self) -> list[Channel]:
        n = max(8, min(len(_CHANNEL_NAMES), int(30 * self.scale) or 8))
        channels: list[Channel] = []
        for i in range(n):
            rng = random.Random(f"{self.seed}:slack:channel:{i}")
            name = _CHANNEL_NAMES[i]
            # Fixed roles on low indexes so every feature exists even at tiny scale.
            is_private = i in (3, 5) or (i >= 8 and rng.random() < 0.2)
            is_archived = i in (6, 7) or (i >= 8 and rng.random() < 0.08)
            is_member = i not in (4, 7) and not (i >= 8 and not is_private and rng.random() < 0.15)
            listed = not (is_private and not is_member)
            channels.append(
                Channel(
                    id="C0" + _code(self.seed, "channel", i),
                    name=name,
                    created=self.start - rng.randint(86400, 86400 * 200),
                    is_private=is_private,
                    is_archived=is_archived,
                    is_member=is_member,
                    topic=TextGen(rng.random()).title(),
                    purpose=f"Discussion about {name}",
                    weight=0.5 + rng.random() * 2,
                    listed=listed,
                )
            )
        # Channel 5 is private and the bot is not in it: invisible to the bot.
        channels[5].is_member = False
        channels[5].listed = False
        return channels

    def members(self, channel: Channel) -> list[str]:
        """A channel's member ids (``conversations.members``): a stable subset of the people, the bot if it is in."""
        if channel.id not in self._members:
            rng = random.Random(f"{self.seed}:slack:members:{channel.id}")
            humans = self.human_ids
            self._members[channel.id] = sorted(rng.sample(humans, min(len(humans), rng.randint(3, 12))))
        return [*self._members[channel.id], *([BOT_USER_ID] if channel.is_member else [])]

    def channel(self, channel_id: str) -> Channel | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    # ---- messages ----------------------------------------------------------------------------------------
    def data(self, channel: Channel) -> ChannelData:
        if channel.id not in self._data:
            self._data[channel.id] = self._make_channel_data(channel)
        return self._data[channel.id]

    def _message_count(self, channel: Channel) -> int:
        total_weight = sum(c.weight for c in self.channels)
        return max(12, int(self.total_messages * channel.weight / total_weight))

    def _make_channel_data(self, channel: Channel) -> ChannelData:
        rng = random.Random(f"{self.seed}:slack:messages:{channel.id}")
        count = self._message_count(channel)
        seconds = sorted(rng.sample(range(self.start, self.end - 86400), count))
        data = ChannelData()
        humans = self.human_ids
        for i, sec in enumerate(seconds):
            ts = format_ts(sec, rng.randint(0, 999_999))
            msg_rng = random.Random(f"{self.seed}:slack:msg:{channel.id}:{ts}")
            msg = self._message(msg_rng, ts, humans, channel, i)
            data.top[ts] = msg
            if i == 1 or (msg.get("subtype") is None and msg_rng.random() < 0.18):
                self._add_thread(msg_rng, data, msg, humans, channel, late=(i == 1))
        return data

    def _message(self, rng: random.Random, ts: str, humans: list[str], channel: Channel, i: int) -> dict[str, Any]:
        text_gen = TextGen(rng.random())
        # Index 1 and 3 are always plain messages (a late thread and an edit exist at any scale).
        roll = 1.0 if i in (1, 3) else rng.random()
        if i == 0 or roll < 0.03:
            user = rng.choice(humans)
            return {
                "type": "message",
                "subtype": "channel_join",
                "ts": ts,
                "user": user,
                "text": f"<@{user}> has joined the channel",
            }
        if roll < 0.05:
            user = rng.choice(humans)
            return {
                "type": "message",
                "subtype": "channel_leave",
                "ts": ts,
                "user": user,
                "text": f"<@{user}> has left the channel",
            }
        if roll < 0.12 or i == 2:
            return {
                "type": "message",
                "subtype": "bot_message",
                "ts": ts,
                "bot_id": _DEPLOY_BOT_ID,
                "username": "deploybot",
                "text": f"Deployed build {rng.randint(1000, 9999)}: {text_gen.sentence()}",
                "bot_profile": _deploy_bot_profile(),
            }
        user = rng.choice(humans)
        text = text_gen.paragraph(rng.randint(1, 3))
        if rng.random() < 0.2:
            text += f" cc <@{rng.choice(humans)}>"
        if self.jira_keys and rng.random() < 0.25:
            text += f" Tracked in {rng.choice(self.jira_keys)}."
        msg: dict[str, Any] = {
            "type": "message",
            "user": user,
            "text": text,
            "ts": ts,
            "client_msg_id": _uuid(rng),
            "team": TEAM_ID,
        }
        if rng.random() < 0.08 or i == 3:
            seconds = int(ts.split(".")[0]) + rng.randint(30, 7200)
            msg["edited"] = {"user": user, "ts": format_ts(min(seconds, self.end), 0)}
        return msg

    def _add_thread(
        self,
        rng: random.Random,
        data: ChannelData,
        parent: dict[str, Any],
        humans: list[str],
        channel: Channel,
        late: bool,
    ) -> None:
        parent_sec = int(parent["ts"].split(".")[0])
        n = rng.randint(1, 8)
        replies: list[dict[str, Any]] = []
        for j in range(n):
            # Most replies come within hours; some arrive weeks later (the history-omits-replies trap).
            if (late and j == n - 1) or rng.random() < 0.1:
                delay = rng.randint(14 * 86400, 60 * 86400)
            else:
                delay = rng.randint(60, 6 * 3600)
            sec = min(parent_sec + delay, self.end - 60)
            user = rng.choice(humans)
            replies.append(
                {
                    "type": "message",
                    "user": user,
                    "text": TextGen(rng.random()).paragraph(1),
                    "ts": format_ts(sec, rng.randint(0, 999_999)),
                    "thread_ts": parent["ts"],
                    "parent_user_id": parent["user"],
                    "client_msg_id": _uuid(rng),
                    "team": TEAM_ID,
                }
            )
        replies.sort(key=lambda m: _ts_key(m["ts"]))
        data.replies[parent["ts"]] = replies
        refresh_thread_parent(parent, replies)


def refresh_thread_parent(parent: dict[str, Any], replies: list[dict[str, Any]]) -> None:
    """Set the fields a thread parent carries: thread_ts, reply_count, reply_users(_count), latest_reply."""
    users = list(dict.fromkeys(r["user"] for r in replies))
    parent.update(
        {
            "thread_ts": parent["ts"],
            "reply_count": len(replies),
            "reply_users_count": len(users),
            "latest_reply": replies[-1]["ts"],
            "reply_users": users[:5],
        }
    )


def _ts_key(ts: str) -> tuple[int, int]:
    sec, micro = ts.split(".")
    return int(sec), int(micro)


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _deploy_bot_profile() -> dict[str, Any]:
    icon = "https://a.slack-edge.com/80588/img/plugins/app/bot_48.png"
    return {
        "id": _DEPLOY_BOT_ID,
        "app_id": _DEPLOY_APP_ID,
        "name": "deploybot",
        "deleted": False,
        "updated": 1600000000,
        "team_id": TEAM_ID,
        "icons": {"image_36": icon, "image_48": icon, "image_72": icon},
    }


def _user(uid: str, name: str, real: str, display: str, is_bot: bool, updated: int) -> dict[str, Any]:
    profile = {
        "real_name": real,
        "real_name_normalized": real,
        "display_name": display,
        "display_name_normalized": display,
        "avatar_hash": _code(uid, length=12).lower(),
        "title": "",
        "phone": "",
        "skype": "",
        "status_text": "",
        "status_emoji": "",
        "fields": None,
        "team": TEAM_ID,
        "image_48": f"https://avatars.slack-edge.com/{uid}_48.png",
    }
    if is_bot:
        profile["bot_id"] = BOT_ID
    return {
        "id": uid,
        "team_id": TEAM_ID,
        "name": name,
        "deleted": False,
        "real_name": real,
        "tz": "Europe/Berlin",
        "tz_label": "Central European Time",
        "tz_offset": 3600,
        "profile": profile,
        "is_admin": False,
        "is_owner": False,
        "is_bot": is_bot,
        "is_app_user": False,
        "updated": updated,
    }


def ts_key(ts: str) -> tuple[int, int]:
    """Sort key for a ``ts`` string (numeric, not lexical)."""
    return _ts_key(ts)


class SlackMutations:
    """Changes the control API makes, all stamped with the sandbox clock (``now``)."""

    def __init__(self, corpus: SlackCorpus) -> None:
        self.corpus = corpus
        self._seq = 0

    def _new_ts(self, now: datetime) -> str:
        # The micro part is a counter: unique within a channel and deterministic for a given call sequence.
        self._seq += 1
        return format_ts(int(now.timestamp()), self._seq)

    def _default_channel(self, channel_id: str | None) -> Channel:
        if channel_id:
            channel = self.corpus.channel(channel_id)
            if channel is None:
                raise ValueError(f"unknown channel {channel_id}")
            return channel
        return next(c for c in self.corpus.channels if c.is_member and not c.is_archived and not c.is_private)

    def post_message(
        self, now: datetime, channel_id: str | None, text: str | None, user: str | None, days_ago: float = 0
    ) -> dict[str, Any]:
        """A new top-level message; ``days_ago`` backdates it (a message that was already there, for tests that
        need a thread of a given age)."""
        channel = self._default_channel(channel_id)
        data = self.corpus.data(channel)
        ts = self._new_ts(now - timedelta(days=days_ago))
        msg = {
            "type": "message",
            "user": user or self.corpus.human_ids[0],
            "ts": ts,
            "team": TEAM_ID,
            "text": text or f"New message {self._seq} posted at {now.isoformat()}",
        }
        data.top[ts] = msg
        return {"channel": channel.id, "ts": ts, "message": dict(msg)}

    def late_reply(
        self, now: datetime, channel_id: str | None, thread_ts: str | None, text: str | None
    ) -> dict[str, Any]:
        channel = self._default_channel(channel_id)
        data = self.corpus.data(channel)
        if thread_ts is None:
            # The oldest thread: its parent is far behind any incremental ``oldest`` watermark.
            thread_ts = min(data.replies, key=ts_key)
        parent = data.top.get(thread_ts)
        if parent is None or parent.get("subtype"):
            raise ValueError(f"no message {thread_ts} in {channel.id} can take a reply")
        ts = self._new_ts(now)
        reply = {
            "type": "message",
            "user": self.corpus.human_ids[1],
            "ts": ts,
            "thread_ts": thread_ts,
            "parent_user_id": parent["user"],
            "team": TEAM_ID,
            "text": text or f"Late reply {self._seq} to {thread_ts}",
        }
        data.replies.setdefault(thread_ts, []).append(reply)
        refresh_thread_parent(parent, data.replies[thread_ts])
        return {
            "channel": channel.id,
            "thread_ts": thread_ts,
            "ts": ts,
            "reply_count": parent["reply_count"],
            "message": dict(reply),
        }

    def delete_message(self, channel_id: str | None, ts: str | None) -> dict[str, Any]:
        """Delete a top-level message; a thread parent goes with its replies (as when a thread is deleted)."""
        channel = self._default_channel(channel_id)
        data = self.corpus.data(channel)
        if ts not in data.top:
            raise ValueError(f"no top-level message {ts} in {channel.id}")
        del data.top[ts]
        replies = data.replies.pop(ts, [])
        return {"channel": channel.id, "ts": ts, "replies_deleted": len(replies)}

    def edit_message(self, now: datetime, channel_id: str | None, ts: str | None, text: str | None) -> dict[str, Any]:
        channel = self._default_channel(channel_id)
        data = self.corpus.data(channel)
        if ts is None:
            ts = next(
                t
                for t, m in sorted(data.top.items(), key=lambda kv: ts_key(kv[0]))
                if "user" in m and not m.get("subtype")
            )
        msg = data.top.get(ts) or next((r for rs in data.replies.values() for r in rs if r["ts"] == ts), None)
        if msg is None:
            raise ValueError(f"no message {ts} in {channel.id}")
        msg["text"] = text or f"{msg['text']} (edited)"
        msg["edited"] = {"user": msg.get("user", BOT_USER_ID), "ts": format_ts(int(now.timestamp()), 0)}
        return {"channel": channel.id, "ts": ts, "edited": dict(msg["edited"]), "text": msg["text"]}
