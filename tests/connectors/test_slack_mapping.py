"""Slack's pure pieces: mappers, ids, markup, the ok:false classifier and the integer run option."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from connectors.errors import AuthError, RateLimitedError, TransientError
from connectors.registry import source_spec
from connectors.slack_api import SlackApiError, _body_error
from connectors.slack_mapping import (
    ChannelInfo,
    MembersTooLarge,
    day_document,
    parse_doc_id,
    render_text,
    thread_document,
    ts_of,
)

CHANNEL = ChannelInfo(id="C1", name="ops", is_private=False)
NAMES = {"U1": "ana", "U2": "ben"}
WHERE = {"source": "slack", "endpoint": "GET conversations.history", "partition": "slack:C1:x"}


def _msg(ts: str, text: str = "hi", **fields: Any) -> dict[str, Any]:
    return {"type": "message", "user": "U1", "ts": ts, "text": text, **fields}


def test_markup_becomes_readable_text() -> None:
    text = "<@U2> see <#C9|deploys> and <https://x.io/a|the doc>, <!here> &lt;3 <@U7|old>"
    assert render_text(text, NAMES) == "@ben see #deploys and the doc (https://x.io/a), @here <3 @old"


def test_a_day_leaves_out_thread_parents_and_broadcasts_but_counts_their_replies_in_updated_at() -> None:
    parent = _msg("1700000100.000001", "parent", thread_ts="1700000100.000001", reply_count=1,
                  latest_reply="1700900000.000001")  # fmt: skip
    broadcast = _msg("1700000200.000001", "also in channel", subtype="thread_broadcast", thread_ts="1699.000001")
    join = _msg("1700000300.000001", "<@U1> has joined the channel", subtype="channel_join")
    plain = _msg("1700000400.000001", "plain <@U2>", edited={"user": "U1", "ts": "1700000500.000000"})
    doc = day_document(CHANNEL, date(2023, 11, 14), [parent, broadcast, join, plain], NAMES, "acme", False)
    assert doc.id == "slack:C1:2023-11-14" and doc.metadata["message_count"] == 1
    assert doc.text.endswith("ana: plain @ben (edited)") and "parent" not in doc.text
    assert doc.updated_at == datetime.fromtimestamp(1700900000, UTC) + timedelta(microseconds=1)  # latest reply
    assert doc.url == "https://acme.slack.com/archives/C1/p1700000400000001"
    assert doc.acl == ["slack:channel:C1"] and doc.metadata["channel_private"] is False


def test_a_thread_is_one_document_newest_of_its_messages() -> None:
    parent = _msg("1700000100.000001", "question", thread_ts="1700000100.000001", reply_count=1)
    reply = _msg("1700000900.000002", "answer", user="U2", thread_ts="1700000100.000001")
    doc = thread_document(CHANNEL, [parent, reply], NAMES, "acme", False)
    assert doc.id == "slack:C1:1700000100.000001" and doc.title == "#ops thread: question"
    assert doc.updated_at > doc.created_at and doc.metadata["reply_count"] == 1
    assert doc.text.splitlines()[1].endswith("ben: answer")


def test_private_channel_members_ride_along_and_too_many_is_an_error() -> None:
    private = ChannelInfo(id="G1", name="hr", is_private=True, members=("U2", "U1"))
    doc = thread_document(private, [_msg("1700000100.000001")], NAMES, "acme", False)
    assert doc.metadata["channel_members"] == ["U1", "U2"]
    crowded = ChannelInfo(id="G1", name="hr", is_private=True, members=tuple(f"U{n}" for n in range(101)))
    with pytest.raises(MembersTooLarge, match="never cut"):
        thread_document(crowded, [_msg("1700000100.000001")], NAMES, "acme", False)


def test_ids_carry_channel_and_day() -> None:
    assert parse_doc_id("slack:C1:2025-03-04") == ("C1", datetime(2025, 3, 4, tzinfo=UTC))
    assert parse_doc_id("slack:C1:1741132800.000100") == ("C1", datetime(2025, 3, 5, tzinfo=UTC))
    assert parse_doc_id("slack:C1:nonsense") is None and parse_doc_id("jira:1") is None
    assert ts_of(datetime(2025, 3, 5, tzinfo=UTC)) == "1741132800.000000"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"ok": False, "error": "invalid_auth"}, AuthError),
        ({"ok": False, "error": "not_authed"}, AuthError),
        ({"ok": False, "error": "token_revoked"}, AuthError),
        ({"ok": False, "error": "ratelimited"}, RateLimitedError),
        ({"ok": False, "error": "service_unavailable"}, TransientError),
        ({"ok": False, "error": "not_in_channel"}, SlackApiError),
    ],
)
def test_ok_false_maps_to_the_taxonomy(body: dict[str, Any], kind: type[Exception]) -> None:
    error = _body_error(body, WHERE)
    assert type(error) is kind
    assert body["error"] in str(error) and "slack:C1:x" in str(error)
    if kind is AuthError:
        assert "SLACK_BOT_TOKEN" in str(error)
    assert _body_error({"ok": True}, WHERE) is None


def test_the_lookback_option_is_an_integer_with_a_default_and_jira_flags_are_unchanged() -> None:
    lookback = next(o for o in source_spec("slack").filters if o.param == "thread_lookback_days")
    assert lookback.value(None) == 30 and lookback.value(90) == 90 and lookback.value(0) == 0
    archived = next(o for o in source_spec("jira").filters if o.param == "active_only")
    assert archived.value(True) is False and archived.value(False) is True
    projects = next(o for o in source_spec("jira").filters if o.param == "projects")
    assert projects.value(["OPS", "ENG"]) == ["ENG", "OPS"] and projects.value(None) is None
