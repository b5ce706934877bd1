"""The Slack Web API methods the sandbox answers, as pure functions of (state, args, now).

Each returns the body without ``ok`` (the caller adds ``ok:true``) or raises ``SlackError`` with Slack's code.
Shapes follow ``objs_conversation``/``objs_message``/``objs_user`` of ``tests/specs/slack`` plus the newer fields
Slack documents today (``edited``, ``response_metadata``).
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sandbox.slack.corpus import (
    BOT_ID,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    Channel,
    SlackCorpus,
    SlackMutations,
    ts_key,
)

__all__ = ["METHODS", "SlackError", "SlackState"]

_HISTORY_MAX = 999
_NON_MARKETPLACE_LIMIT = 15
_TYPES = {"public_channel", "private_channel", "mpim", "im"}


class SlackError(Exception):
    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


class SlackState(SlackMutations):
    """The corpus plus what clients change through the API (channel joins)."""

    def __init__(self, corpus: SlackCorpus) -> None:
        super().__init__(corpus)


# ---- helpers ---------------------------------------------------------------------------------------------
def _cursor(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _uncursor(cursor: str, prefix: str) -> str:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    if not raw.startswith(prefix):
        raise SlackError("invalid_cursor")
    return raw[len(prefix) :]


def _offset(args: dict[str, str]) -> int:
    if not args.get("cursor"):
        return 0
    raw = _uncursor(args["cursor"], "offset:")
    if not raw.isdigit():
        raise SlackError("invalid_cursor")
    return int(raw)


def _int(args: dict[str, str], name: str, default: int, error: str = "invalid_limit") -> int:
    raw = args.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise SlackError(error) from None


def _flag(args: dict[str, str], name: str) -> bool:
    return args.get(name, "").lower() in ("1", "true")


def _ts_bound(raw: str | None, error: str) -> tuple[int, int] | None:
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SlackError(error) from None
    sec, _, micro = raw.partition(".")
    return (int(sec), int((micro + "000000")[:6])) if sec.isdigit() else (int(value), 0)


def _readable_channel(state: SlackState, args: dict[str, str]) -> Channel:
    channel = state.corpus.channel(args.get("channel", ""))
    if channel is None or not channel.listed:
        raise SlackError("channel_not_found")
    if not channel.is_member:
        raise SlackError("not_in_channel")
    return channel


def conversation_object(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.id,
        "name": channel.name,
        "is_channel": True,
        "is_group": False,
        "is_im": False,
        "is_mpim": False,
        "is_private": channel.is_private,
        "created": channel.created,
        "is_archived": channel.is_archived,
        "is_general": channel.name == "general",
        "name_normalized": channel.name,
        "is_shared": False,
        "is_org_shared": False,
        "is_ext_shared": False,
        "is_pending_ext_shared": False,
        "pending_shared": [],
        "parent_conversation": None,
        "creator": "U0" + "0" * 9,
        "is_member": channel.is_member,
        "topic": {"value": channel.topic, "creator": "", "last_set": 0},
        "purpose": {"value": channel.purpose, "creator": "", "last_set": 0},
        "previous_names": [],
        "num_members": 12,
    }


def _window(args: dict[str, str], now: datetime) -> Callable[[str], bool]:
    oldest = _ts_bound(args.get("oldest"), "invalid_ts_oldest") or (0, 0)
    latest = _ts_bound(args.get("latest"), "invalid_ts_latest") or (int(now.timestamp()) + 1, 0)
    # ``inclusive`` only matters at the bounds, and only when a bound is given.
    inclusive = _flag(args, "inclusive")

    def inside(ts: str) -> bool:
        key = ts_key(ts)
        if inclusive:
            return oldest <= key <= latest
        return oldest < key < latest

    return inside


def _page_size(args: dict[str, str], default: int, maximum: int, non_marketplace: bool) -> int:
    limit = _int(args, "limit", _NON_MARKETPLACE_LIMIT if non_marketplace else default)
    if limit < 1:
        raise SlackError("invalid_limit")
    return min(limit, _NON_MARKETPLACE_LIMIT if non_marketplace else maximum)


# ---- methods ---------------------------------------------------------------------------------------------
def auth_test(state: SlackState, args: dict[str, str], now: datetime, nm: bool) -> dict[str, Any]:
    return {
        "url": f"https://{TEAM_DOMAIN}.slack.com/",
        "team": "Backfill Sandbox",
        "user": "backfill",
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


def conversations_list(state: SlackState, args: dict[str, str], now: datetime, nm: bool) -> dict[str, Any]:
    types = {t.strip() for t in args.get("types", "public_channel").split(",") if t.strip()}
    if not types or not types <= _TYPES:
        raise SlackError("invalid_types")
    limit = min(_int(args, "limit", 100), 1000)
    if limit < 1:
        raise SlackError("invalid_limit")
    visible = [
        c
        for c in state.corpus.channels
        if c.listed
        and (("private_channel" if c.is_private else "public_channel") in types)
        and not (_flag(args, "exclude_archived") and c.is_archived)
    ]
    start = _offset(args)
    page = visible[start : start + limit]
    more = start + limit < len(visible)
    return {
        "channels": [conversation_object(c) for c in page],
        "response_metadata": {"next_cursor": _cursor(f"offset:{start + limit}") if more else ""},
    }


def conversations_info(state: SlackState, args: dict[str, str], now: datetime, nm: bool) -> dict[str, Any]:
    channel = state.corpus.channel(args.get("channel", ""))
    if channel is None or not channel.listed:
        raise SlackError("channel_not_found")
    return {"channel": conversation_object(channel)}


def conversations_history(state: SlackState, args: dict[str, str], now: datetime, nm: bool) -> dict[str, Any]:
    channel = _readable_channel(state, args)
    inside = _window(args, now)
    limit = _page_size(args, 100, _HISTORY_MAX, nm)
    messages = sorted(
        (m for ts, m in state.corpus.data(channel).top.items() if inside(ts)),
        key=lambda m: ts_key(m["ts"]),
        reverse=True,
    )  # newest first
    if args.get("cursor"):
        before = ts_key(_uncursor(args["cursor"], "next_ts:"))
        messages = [m for m in messages if ts_key(m["ts"]) < before]
    page = messages[:limit]
    more = len(messages) > limit
    return {
        "messages": copy.deepcopy(page),
        "has_more": more,
        "pin_count": 0,
        "channel_actions_ts": None,
        "channel_actions_count": 0,
        "response_metadata": {"next_cursor": _cursor(f"next_ts:{page[-1]['ts']}") if more else ""},
    }


def conversations_replies(state: SlackState, args: dict[str, str], now: datetime, nm: bool) -> dict[str, Any]:
    channel = _readable_channel(state, args)
    ts = args.get("ts", "")
    if not ts:
        raise SlackError("invalid_arguments")
    data = state.corpus.data(channel)
    parent = data.top.get(ts)
    if parent is None:
        # Given a reply's ts, Slack answers with that one message, not the thread.
        reply = next((r for rs in data.replies.values() for r in rs if r["ts"] == ts), None)
        if reply is None:
            raise SlackError("thread_not_found")
        return {
            "messages": [copy.deepcopy(reply)],
            "has_more": False,
            "response_metadata": {"next_cursor": ""},
        }
    inside = _window(args, now)
    thread = [parent, *(r for r in data.replies.get(ts, []) if inside(r["ts"]))]
    if args.get("cursor"):
        after = ts_key(_uncursor(args["cursor"], "next_ts:"))
        thread = [parent, *(m for m in thread[1:] if ts_key(m["ts"]) > after)]
    limit = _page_size(args, 1000, 1000, nm)
    page = copy.deepcopy(thread[:limit])
    page[0]["subscribed"] = False  # replies shows the caller's subscription on the parent
    more = len(thread) > limit
    return {
        "messages": copy.deepcopy(page),
        "has_more": more,
        "response_metadata": {"next_cursor": _cursor(f"next_ts:{page[-1]['ts']}") if more else ""},
    }


def conversations_join(state: SlackState, args: dict[str, str], now: datetime, nm: bool) -> dict[str, Any]:
    channel = state.corpus.channel(args.get("channel", ""))
    if channel is None or not channel.listed:
        raise SlackError("channel_not_found")
    if channel.is_private:
        raise SlackError("method_not_supported_for_channel_type")
    if channel.is_archived:
        raise SlackError("is_archived")
    if channel.is_member:
        return {
            "channel": conversation_object(channel),
            "warning": "already_in_channel",
            "response_metadata": {"warnings": ["already_in_channel"]},
        }
    channel.is_member = True
    return {"channel": conversation_object(channel)}


def conversations_members(state: SlackState, args: dict[str, str], now: datetime, nm: bool) -> dict[str, Any]:
    channel = state.corpus.channel(args.get("channel", ""))
    if channel is None or not channel.listed:
        raise SlackError("channel_not_found")
    members = state.corpus.members(channel)
    limit = _int(args, "limit", 100)
    if limit < 1 or limit > 1000:
        raise SlackError("invalid_limit")
    start = _offset(args)
    more = start + limit < len(members)
    return {
        "members": members[start : start + limit],
        "response_metadata": {"next_cursor": _cursor(f"offset:{start + limit}") if more else ""},
    }


def users_info(state: SlackState, args: dict[str, str], now: datetime, nm: bool) -> dict[str, Any]:
    user = state.corpus.users.get(args.get("user", ""))
    if user is None:
        raise SlackError("user_not_found")
    return {"user": copy.deepcopy(user)}


def users_list(state: SlackState, args: dict[str, str], now: datetime, nm: bool) -> dict[str, Any]:
    users = list(state.corpus.users.values())
    limit = _int(args, "limit", 0)
    if limit <= 0 or limit > 1000:
        limit = len(users)  # a small team gets everything when no limit is given
    start = _offset(args)
    page = users[start : start + limit]
    more = start + limit < len(users)
    return {
        "members": copy.deepcopy(page),
        "cache_ts": int(now.timestamp()),
        "response_metadata": {"next_cursor": _cursor(f"offset:{start + limit}") if more else ""},
    }


def chat_get_permalink(state: SlackState, args: dict[str, str], now: datetime, nm: bool) -> dict[str, Any]:
    channel = state.corpus.channel(args.get("channel", ""))
    if channel is None or not channel.listed:
        raise SlackError("channel_not_found")
    ts = args.get("message_ts", "")
    data = state.corpus.data(channel)
    base = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel.id}/p{ts.replace('.', '')}"
    if ts in data.top:
        return {"channel": channel.id, "permalink": base}
    for thread_ts, replies in data.replies.items():
        if any(r["ts"] == ts for r in replies):
            return {"channel": channel.id, "permalink": f"{base}?thread_ts={thread_ts}&cid={channel.id}"}
    raise SlackError("message_not_found")


METHODS: dict[str, Callable[[SlackState, dict[str, str], datetime, bool], dict[str, Any]]] = {
    "auth.test": auth_test,
    "conversations.list": conversations_list,
    "conversations.info": conversations_info,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "conversations.join": conversations_join,
    "conversations.members": conversations_members,
    "users.info": users_info,
    "users.list": users_list,
    "chat.getPermalink": chat_get_permalink,
}
