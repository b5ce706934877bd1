"""ADF → text for any ADF-shaped tree (hypothesis): never raises, and every text node's text is in the output."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.adf import adf_to_text

Node = dict[str, Any]
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_marks = st.lists(
    st.one_of(
        st.sampled_from([{"type": "strong"}, {"type": "em"}, {"type": "code"}, {"type": "strike"}]),
        st.builds(lambda href: {"type": "link", "attrs": {"href": href}}, st.text(max_size=30)),
    ),
    max_size=2,
)
_text_nodes = st.builds(
    lambda text, marks: {"type": "text", "text": text, "marks": marks}, st.text(max_size=40), _marks
)
_inline = st.one_of(
    _text_nodes,
    st.just({"type": "hardBreak"}),
    st.builds(lambda name: {"type": "mention", "attrs": {"id": "5b10", "text": name}}, st.text(max_size=10)),
    st.builds(lambda short: {"type": "emoji", "attrs": {"shortName": short}}, st.text(max_size=8)),
    st.builds(lambda ms: {"type": "date", "attrs": {"timestamp": str(ms)}}, st.integers(-(10**15), 10**15)),
)


def _with(kind: str, content: list[Node], **attrs: Any) -> Node:
    node: Node = {"type": kind, "content": content}
    if attrs:
        node["attrs"] = attrs
    return node


_paragraphs = st.lists(_inline, max_size=5).map(lambda inline: _with("paragraph", inline))


def _blocks(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    many = st.lists(children, min_size=1, max_size=3)
    return st.one_of(
        many.map(lambda c: _with("blockquote", c)),
        many.map(lambda c: _with("panel", c, panelType="info")),
        many.map(lambda c: _with("bulletList", [_with("listItem", [child]) for child in c])),
        st.tuples(many, st.integers(-5, 10**6)).map(
            lambda pair: _with("orderedList", [_with("listItem", [child]) for child in pair[0]], order=pair[1])
        ),
        st.lists(_inline, max_size=3).map(lambda inline: _with("taskList", [_with("taskItem", inline, state="DONE")])),
        many.map(lambda c: _with("expand", c, title="More")),
        many.map(lambda c: _with("table", [_with("tableRow", [_with("tableCell", [child]) for child in c])])),
        many.map(lambda c: _with("someFutureBlock", c)),  # unknown types render through their children
        st.lists(_text_nodes, max_size=3).map(lambda text: _with("codeBlock", text)),
        st.lists(_inline, max_size=3).map(lambda inline: _with("heading", inline, level=2)),
    )


_trees = st.recursive(_paragraphs, _blocks, max_leaves=12)
documents = st.lists(_trees, max_size=5).map(lambda content: {"type": "doc", "version": 1, "content": content})


def _texts(node: Any) -> list[str]:
    if not isinstance(node, dict):
        return []
    own = [node["text"]] if node.get("type") == "text" else []
    return own + [text for child in node.get("content", []) for text in _texts(child)]


def _words(text: str) -> str:
    return " ".join(text.split())


@SETTINGS
@given(document=documents)
def test_every_text_node_survives_and_nothing_raises(document: Node) -> None:
    rendered = adf_to_text(document)
    assert isinstance(rendered, str)
    flat = _words(rendered)
    for text in _texts(document):
        # Layout changes whitespace only (line breaks, list indents, table cells on one line).
        assert _words(text) in flat
