"""Slack simulator over real HTTP: contract (Slack's OpenAPI v2 spec), quirks, tiers, determinism, control."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft7Validator

from sandbox.server import RunningSandbox, start_sandbox

SPEC = Path(__file__).parents[1] / "specs" / "slack" / "slack_web_openapi_v2.trimmed.json"
# The spec is stale (2020): fields Slack documents on today's API are added here, nothing is removed.
_NEWER_MESSAGE_FIELDS = {"edited": {"type": "object", "required": ["user", "ts"]}, "client_msg_id": {"type": "string"}}
_NEWER_HISTORY_FIELDS = {"response_metadata": {"type": "object", "required": ["next_cursor"]}}


def _as_slack_meant(node: Any) -> Any:
    """Slack writes unions as ``items: [A, B]`` on non-array values; read them as ``anyOf``."""
    if isinstance(node, list):
        return [_as_slack_meant(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _as_slack_meant(v) for k, v in node.items()}
    if isinstance(node.get("items"), list):
        union = out.pop("items")
        out = {"anyOf": union} if not out else {"allOf": [out, {"anyOf": union}]}
    return out


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    raw = json.loads(SPEC.read_text())
    raw["definitions"]["objs_message"]["properties"].update(_NEWER_MESSAGE_FIELDS)
    thread_items = raw["paths"]["/conversations.replies"]["get"]["responses"]["200"]["schema"]["properties"]
    for variant in thread_items["messages"]["items"]["items"]:  # parent, reply
        variant["properties"].update(_NEWER_MESSAGE_FIELDS)
    for method in ("/conversations.history", "/conversations.replies"):
        raw["paths"][method]["get"]["responses"]["200"]["schema"]["properties"].update(_NEWER_HISTORY_FIELDS)
    return _as_slack_meant(raw)


def _validate(spec: dict[str, Any], method: str, body: dict[str, Any]) -> None:
    verb = "post" if method == "conversations.join" else "get"
    outcome = "200" if body["ok"] else "default"
    schema = dict(spec["paths"][f"/{method}"][verb]["responses"][outcome]["schema"])
    schema["definitions"] = spec["definitions"]
    Draft7Validator(schema).validate(body)


def _client(sb: RunningSandbox) -> httpx.Client:
    return httpx.Client(
        base_url=sb.env["SLACK_API_URL"], timeout=10.0, headers={"Authorization": f"Bearer {sb.env['SLACK_BOT_TOKEN']}"}
    )


def _channels(client: httpx.Client) -> list[dict[str, Any]]:
    params = {"types": "public_channel,private_channel", "limit": 1000}
    return client.get("/conversations.list", params=params).json()["channels"]


def _history(client: httpx.Client, channel: str, **params: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    cursor = ""
    while True:
        body = client.post("/conversations.history", data={"channel": channel, "cursor": cursor, **params}).json()
        messages += body["messages"]
        cursor = body["response_metadata"]["next_cursor"]
        if not cursor:
            return messages


def test_every_method_answers_in_the_spec_shape(sandbox, spec) -> None:
    with _client(sandbox) as client:
        channels = _channels(client)
        readable = next(c for c in channels if c["is_member"] and not c["is_private"])
        history = client.get("/conversations.history", params={"channel": readable["id"], "limit": 200}).json()
        parent = next(m for m in history["messages"] if m.get("reply_count"))
        replies = client.get("/conversations.replies", params={"channel": readable["id"], "ts": parent["ts"]}).json()
        bodies = {
            "conversations.list": client.get("/conversations.list", params={"limit": 2}).json(),
            "conversations.history": history,
            "conversations.replies": replies,
            "conversations.join": client.post("/conversations.join", json={"channel": readable["id"]}).json(),
            "users.info": client.get("/users.info", params={"user": parent["user"]}).json(),
            "users.list": client.get("/users.list", params={"limit": 5}).json(),
            "chat.getPermalink": client.get(
                "/chat.getPermalink", params={"channel": readable["id"], "message_ts": parent["ts"]}
            ).json(),
        }
    assert all(body["ok"] for body in bodies.values())
    for method, body in bodies.items():
        _validate(spec, method, body)
    assert any("edited" in m for m in history["messages"])
    assert any(m.get("subtype") == "bot_message" and m.get("bot_id") for m in history["messages"])
    assert any(m.get("subtype") == "channel_join" for m in history["messages"])


def test_history_omits_thread_replies_and_replies_returns_them(sandbox) -> None:
    with _client(sandbox) as client:
        channel = next(c for c in _channels(client) if c["is_member"] and not c["is_private"])["id"]
        history = _history(client, channel, limit=50)
        parents = [m for m in history if m.get("reply_count")]
        thread = client.get("/conversations.replies", params={"channel": channel, "ts": parents[0]["ts"]}).json()
    top_ts = {m["ts"] for m in history}
    assert all(m.get("thread_ts") in (None, m["ts"]) for m in history)
    replies = thread["messages"][1:]
    assert thread["messages"][0]["ts"] == parents[0]["ts"] and len(replies) == parents[0]["reply_count"]
    assert not top_ts & {r["ts"] for r in replies}
    assert replies[-1]["ts"] == parents[0]["latest_reply"]
    assert [m["ts"] for m in history] == sorted((m["ts"] for m in history), key=float, reverse=True)


def test_errors_are_ok_false_inside_http_200(sandbox) -> None:
    with _client(sandbox) as client:
        channels = _channels(client)
        outsider = next(c for c in channels if not c["is_member"] and not c["is_archived"])
        archived = next(c for c in channels if not c["is_member"] and c["is_archived"])
        answers = {
            "not_in_channel": client.get("/conversations.history", params={"channel": outsider["id"]}),
            "channel_not_found": client.get("/conversations.history", params={"channel": "C0NOPE00000"}),
            "is_archived": client.post("/conversations.join", data={"channel": archived["id"]}),
            "invalid_auth": client.get("/auth.test", headers={"Authorization": "Bearer xoxb-wrong"}),
            "invalid_cursor": client.get("/conversations.list", params={"cursor": "bm9wZQ=="}),
        }
    for code, response in answers.items():
        assert response.status_code == 200
        assert response.json() == {"ok": False, "error": code}


def test_join_then_read_a_public_channel(fresh_sandbox) -> None:
    with _client(fresh_sandbox) as client:
        outsider = next(c for c in _channels(client) if not c["is_member"] and not c["is_archived"])
        joined = client.post("/conversations.join", json={"channel": outsider["id"]}).json()
        history = client.get("/conversations.history", params={"channel": outsider["id"]}).json()
    assert joined["ok"] and joined["channel"]["is_member"]
    assert history["ok"] and history["messages"]


def test_tier_quota_answers_429_with_retry_after() -> None:
    with start_sandbox(seed=42, scale=0.01, overrides={"slack": {"quota": True}}) as sb, _client(sb) as client:
        answers = [client.get("/conversations.list") for _ in range(21)]  # Tier 2: 20 per minute
    assert [a.status_code for a in answers[:20]] == [200] * 20
    assert answers[20].status_code == 429
    assert answers[20].json() == {"ok": False, "error": "ratelimited"}
    assert int(answers[20].headers["Retry-After"]) >= 1


def test_non_marketplace_history_is_15_a_page_and_1_a_minute() -> None:
    overrides = {"slack": {"quota": True, "non_marketplace": True}}
    with start_sandbox(seed=42, scale=0.01, overrides=overrides) as sb, _client(sb) as client:
        channel = _channels(client)[0]["id"]
        first = client.get("/conversations.history", params={"channel": channel, "limit": 200})
        second = client.get("/conversations.history", params={"channel": channel})
    assert len(first.json()["messages"]) == 15 and first.json()["has_more"]
    assert second.status_code == 429 and int(second.headers["Retry-After"]) > 1


def test_same_seed_gives_identical_bytes() -> None:
    bodies = []
    for _ in range(2):
        with start_sandbox(seed=9, scale=0.01) as sb, _client(sb) as client:
            channels = client.get("/conversations.list", params={"types": "public_channel,private_channel"})
            first = channels.json()["channels"][0]["id"]
            history = client.get("/conversations.history", params={"channel": first, "limit": 1000})
            bodies.append([channels.content, history.content, client.get("/users.list").content])
    assert bodies[0] == bodies[1]


def test_control_changes_are_visible_and_exact(fresh_sandbox) -> None:
    fresh_sandbox.control("clock", {"advance_seconds": 90})
    late = fresh_sandbox.control("slack/late_reply", {})
    posted = fresh_sandbox.control("slack/post_message", {"channel": late["channel"], "text": "hello"})
    edited = fresh_sandbox.control("slack/edit_message", {"channel": late["channel"]})
    with _client(fresh_sandbox) as client:
        recent = client.get("/conversations.history", params={"channel": late["channel"], "oldest": "1793534000"})
        thread = client.get("/conversations.replies", params={"channel": late["channel"], "ts": late["thread_ts"]})
        fresh_sandbox.control("slack/auth", {"fail": True})
        refused = client.get("/auth.test").json()
    assert [m["ts"] for m in recent.json()["messages"]] == [posted["ts"]]  # the late reply is not in history
    assert thread.json()["messages"][-1]["ts"] == late["ts"]
    assert thread.json()["messages"][0]["latest_reply"] == late["ts"]
    assert edited["edited"]["ts"].startswith(str(int(fresh_sandbox.ctx.clock.now().timestamp())))
    assert refused == {"ok": False, "error": "invalid_auth"}


def test_conversations_members_pages_and_includes_the_bot(fresh_sandbox: RunningSandbox) -> None:
    with _client(fresh_sandbox) as client:
        channel = next(c for c in _channels(client) if c["is_private"])["id"]
        first = client.get("/conversations.members", params={"channel": channel, "limit": 2}).json()
        rest = client.get(
            "/conversations.members", params={"channel": channel, "cursor": first["response_metadata"]["next_cursor"]}
        ).json()
        missing = client.get("/conversations.members", params={"channel": "C0NOPE"}).json()
    members = first["members"] + rest["members"]
    assert len(first["members"]) == 2 and rest["response_metadata"]["next_cursor"] == ""
    assert len(members) == len(set(members)) >= 4 and "U0BACKFILL1" in members
    assert missing == {"ok": False, "error": "channel_not_found"}


def test_a_backdated_post_sits_in_history_at_its_age(fresh_sandbox: RunningSandbox) -> None:
    posted = fresh_sandbox.control("slack/post_message", {"days_ago": 20, "text": "twenty days ago"})
    age = fresh_sandbox.ctx.clock.now().timestamp() - float(posted["ts"])
    assert abs(age - 20 * 86400) < 5


def test_the_tier1_minute_can_be_shortened_for_tests() -> None:
    overrides = {"slack": {"quota": True, "non_marketplace": True, "tier1_period_s": 0.2}}
    with start_sandbox(seed=42, scale=0.01, overrides=overrides) as sb, _client(sb) as client:
        channel = _channels(client)[0]["id"]
        first = client.get("/conversations.history", params={"channel": channel})
        second = client.get("/conversations.history", params={"channel": channel})
        time.sleep(0.25)
        third = client.get("/conversations.history", params={"channel": channel})
    assert [first.status_code, second.status_code, third.status_code] == [200, 429, 200]
