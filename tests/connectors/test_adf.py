"""ADF → text for every node type of the reference table (hand-built), plus the sandbox's kitchen-sink doc."""

from __future__ import annotations

import random
from typing import Any

from connectors.adf import adf_to_text
from sandbox.adf_gen import NODE_TYPES, kitchen_sink


def t(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": text, **extra}


def p(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(content)}


def node(kind: str, *content: dict[str, Any], **attrs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind}
    if content:
        out["content"] = list(content)
    if attrs:
        out["attrs"] = attrs
    return out


def doc(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(content)}


def test_inline_nodes() -> None:
    rendered = adf_to_text(
        doc(
            p(
                t("See "),
                t("the runbook", marks=[{"type": "link", "attrs": {"href": "https://wiki/rb"}}]),
                t(", cc "),
                node("mention", id="5b10", text="@Mia Krystof"),
                t(" "),
                node("emoji", shortName=":tada:", text="🎉"),
                node("emoji", shortName=":bug:"),
                t(" due "),
                node("date", timestamp="1741046400000"),
                t(" is "),
                node("status", text="IN REVIEW", color="blue"),
                t(" "),
                node("inlineCard", url="https://acme.atlassian.net/browse/ENG-1"),
                node("hardBreak"),
                t("second line"),
            )
        )
    )
    assert rendered == (
        "See the runbook (https://wiki/rb), cc @Mia Krystof 🎉:bug: due 2025-03-04 is IN REVIEW "
        "https://acme.atlassian.net/browse/ENG-1\nsecond line"
    )


def test_block_nodes_in_document_order() -> None:
    rendered = adf_to_text(
        doc(
            node("heading", t("Summary"), level=2),
            p(t("Intro.")),
            node("bulletList", node("listItem", p(t("one"))), node("listItem", p(t("two")))),
            node("orderedList", node("listItem", p(t("first"))), node("listItem", p(t("second"))), order=3),
            node(
                "taskList",
                node("taskItem", t("done thing"), state="DONE", localId="1"),
                node("taskItem", t("open thing"), state="TODO", localId="2"),
                localId="l",
            ),
            node("decisionList", node("decisionItem", t("we ship Friday"), state="DECIDED"), localId="d"),
            node("codeBlock", t("SELECT 1;\nSELECT 2;"), language="sql"),
            node("blockquote", p(t("quoted words"))),
            node("panel", p(t("panel words")), panelType="info"),
            node("expand", p(t("hidden words")), title="Details"),
            node("nestedExpand", p(t("nested words")), title="More"),
            node(
                "table",
                node("tableRow", node("tableHeader", p(t("Name"))), node("tableHeader", p(t("Value")))),
                node("tableRow", node("tableCell", p(t("rps"))), node("tableCell", p(t("120")))),
            ),
            node("blockCard", url="https://block.card/x"),
            node("embedCard", data={"url": "https://embed.card/y"}),
            node("mediaSingle", node("media", id="m1", type="file", collection="c", alt="diagram.png")),
            node("mediaGroup", node("media", id="m2", type="file", collection="c")),
            node("rule"),
            p(t("The end.")),
        )
    )
    expected = [
        "Summary",
        "Intro.",
        "- one",
        "- two",
        "3. first",
        "4. second",
        "[x] done thing",
        "[ ] open thing",
        "- we ship Friday",
        "SELECT 1;",
        "SELECT 2;",
        "quoted words",
        "panel words",
        "Details",
        "hidden words",
        "More",
        "nested words",
        "Name | Value",
        "rps | 120",
        "https://block.card/x",
        "https://embed.card/y",
        "diagram.png",
        "The end.",
    ]
    lines = [line for line in rendered.split("\n") if line]
    assert lines == expected


def test_nested_lists_are_indented() -> None:
    nested = node("bulletList", node("listItem", p(t("inner"))))
    rendered = adf_to_text(doc(node("bulletList", node("listItem", p(t("outer")), nested))))
    assert rendered == "- outer\n  - inner"


def test_unknown_nodes_render_their_children_and_nulls_are_empty() -> None:
    future = {"type": "someFutureBlock", "attrs": {"x": 1}, "content": [p(t("still here"))]}
    assert adf_to_text(doc(future)) == "still here"
    assert adf_to_text(None) == ""
    assert adf_to_text("plain v2 text ") == "plain v2 text"
    assert adf_to_text(doc()) == ""
    assert adf_to_text({"type": "doc", "content": [None, 3, {"no": "type"}]}) == ""


def test_sandbox_kitchen_sink_renders_every_type() -> None:
    sink = kitchen_sink(random.Random(7), [("acc-1", "Mia Krystof"), ("acc-2", "Sam Lee")])
    assert set(NODE_TYPES) <= {n.get("type", "") for n in _walk(sink)}
    rendered = adf_to_text(sink)
    texts = [n["text"].strip() for n in _walk(sink) if n.get("type") == "text" and n.get("text", "").strip()]
    assert texts and all(text in rendered for text in texts)
    mentions = [n["attrs"]["text"] for n in _walk(sink) if n.get("type") == "mention"]
    assert mentions and all(m in rendered for m in mentions)


def _walk(n: Any) -> list[dict[str, Any]]:
    if not isinstance(n, dict):
        return []
    out = [n]
    for child in n.get("content") or []:
        out.extend(_walk(child))
    return out
