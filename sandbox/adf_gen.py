"""Deterministic Atlassian Document Format (ADF) documents for the Jira corpus.

Every node type listed in the reference's ADF table can appear, so a connector's ADF-to-text code meets all of them
against the sandbox. ``kitchen_sink`` puts every type in one document, so a small corpus still has them all.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from sandbox.text import TextGen

__all__ = ["NODE_TYPES", "adf_doc", "adf_paragraphs", "kitchen_sink"]

Node = dict[str, Any]
Person = tuple[str, str]  # (accountId, displayName)

NODE_TYPES = (
    "doc",
    "paragraph",
    "text",
    "heading",
    "hardBreak",
    "mention",
    "emoji",
    "date",
    "status",
    "inlineCard",
    "blockCard",
    "embedCard",
    "bulletList",
    "orderedList",
    "listItem",
    "taskList",
    "taskItem",
    "decisionList",
    "decisionItem",
    "codeBlock",
    "blockquote",
    "panel",
    "expand",
    "nestedExpand",
    "table",
    "tableRow",
    "tableHeader",
    "tableCell",
    "mediaSingle",
    "mediaGroup",
    "media",
    "rule",
)

_EMOJI = (("smile", "😄", "1f604"), ("warning", "⚠️", "26a0"), ("tada", "🎉", "1f389"), ("bug", "🐛", "1f41b"))
_CODE = (
    ("python", "def retry(fn):\n    for attempt in range(3):\n        return fn()"),
    ("sql", "SELECT id, updated FROM issues\nWHERE updated >= now() - interval '1 day';"),
    ("bash", 'curl -s -u "$JIRA_EMAIL:$TOKEN" "$JIRA_URL/rest/api/3/myself"'),
)


def _text(value: str, marks: list[Node] | None = None) -> Node:
    node: Node = {"type": "text", "text": value}
    if marks:
        node["marks"] = marks
    return node


def _para(*content: Node) -> Node:
    return {"type": "paragraph", "content": list(content)}


def _link(rng: random.Random, tg: TextGen) -> Node:
    href = f"https://wiki.example.com/runbooks/{rng.randint(100, 999)}"
    return _text(tg.words(3), [{"type": "link", "attrs": {"href": href}}])


def _mention(person: Person) -> Node:
    return {"type": "mention", "attrs": {"id": person[0], "text": f"@{person[1]}", "accessLevel": ""}}


def _emoji(rng: random.Random) -> Node:
    short, text, ident = rng.choice(_EMOJI)
    return {"type": "emoji", "attrs": {"shortName": f":{short}:", "id": ident, "text": text}}


def _rich_paragraph(rng: random.Random, tg: TextGen, people: list[Person]) -> Node:
    parts = [_text(tg.sentence() + " ")]
    if rng.random() < 0.5:
        parts += [_text("cc "), _mention(rng.choice(people)), _text(" ")]
    if rng.random() < 0.4:
        parts += [_text("see "), _link(rng, tg)]
    if rng.random() < 0.3:
        parts += [{"type": "hardBreak"}, _text(tg.sentence(), [{"type": "strong"}])]
    if rng.random() < 0.3:
        parts += [_text(" "), _emoji(rng)]
    return _para(*parts)


def _heading(rng: random.Random, tg: TextGen) -> Node:
    return {"type": "heading", "attrs": {"level": rng.randint(1, 4)}, "content": [_text(tg.title())]}


def _list(kind: str, rng: random.Random, tg: TextGen) -> Node:
    items = [{"type": "listItem", "content": [_para(_text(tg.sentence()))]} for _ in range(rng.randint(2, 4))]
    node: Node = {"type": kind, "content": items}
    if kind == "orderedList":
        node["attrs"] = {"order": 1}
    return node


def _task_list(rng: random.Random, tg: TextGen) -> Node:
    items = [
        {
            "type": "taskItem",
            "attrs": {"localId": f"task-{rng.randint(1000, 9999)}", "state": state},
            "content": [_text(tg.sentence())],
        }
        for state in ("DONE", "TODO")
    ]
    return {"type": "taskList", "attrs": {"localId": f"tl-{rng.randint(1000, 9999)}"}, "content": items}


def _decision_list(rng: random.Random, tg: TextGen) -> Node:
    item = {
        "type": "decisionItem",
        "attrs": {"localId": f"d-{rng.randint(1000, 9999)}", "state": "DECIDED"},
        "content": [_text(tg.sentence())],
    }
    return {"type": "decisionList", "attrs": {"localId": f"dl-{rng.randint(1000, 9999)}"}, "content": [item]}


def _code_block(rng: random.Random, tg: TextGen) -> Node:
    language, code = rng.choice(_CODE)
    return {"type": "codeBlock", "attrs": {"language": language}, "content": [_text(code)]}


def _table(rng: random.Random, tg: TextGen) -> Node:
    header = {
        "type": "tableRow",
        "content": [
            {"type": "tableHeader", "attrs": {}, "content": [_para(_text(name))]} for name in ("Step", "Result")
        ],
    }
    rows = [
        {
            "type": "tableRow",
            "content": [
                {"type": "tableCell", "attrs": {}, "content": [_para(_text(f"Step {n}"))]},
                {"type": "tableCell", "attrs": {}, "content": [_para(_text(tg.sentence()))]},
            ],
        }
        for n in range(1, rng.randint(2, 4) + 1)
    ]
    return {
        "type": "table",
        "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
        "content": [header, *rows],
    }


def _panel(rng: random.Random, tg: TextGen) -> Node:
    kind = rng.choice(("info", "note", "warning", "success", "error"))
    return {"type": "panel", "attrs": {"panelType": kind}, "content": [_para(_text(tg.sentence()))]}


def _blockquote(rng: random.Random, tg: TextGen) -> Node:
    return {"type": "blockquote", "content": [_para(_text(tg.sentence()))]}


def _expand(rng: random.Random, tg: TextGen) -> Node:
    inner = {"type": "nestedExpand", "attrs": {"title": "Details"}, "content": [_para(_text(tg.sentence()))]}
    table = {"type": "table", "content": [{"type": "tableRow", "content": [{"type": "tableCell", "content": [inner]}]}]}
    return {"type": "expand", "attrs": {"title": tg.title()}, "content": [_para(_text(tg.sentence())), table]}


def _inline_bits(rng: random.Random, tg: TextGen) -> Node:
    stamp = str(1_700_000_000_000 + rng.randint(0, 60_000_000_000))
    color = rng.choice(("neutral", "green", "yellow", "red", "blue"))
    return _para(
        _text("Due "),
        {"type": "date", "attrs": {"timestamp": stamp}},
        _text(" status "),
        {"type": "status", "attrs": {"text": rng.choice(("BLOCKED", "IN REVIEW", "DONE")), "color": color}},
        _text(" ref "),
        {"type": "inlineCard", "attrs": {"url": f"https://git.example.com/pr/{rng.randint(1, 999)}"}},
    )


def _cards(rng: random.Random, tg: TextGen) -> list[Node]:
    return [
        {"type": "blockCard", "attrs": {"url": f"https://docs.example.com/design/{rng.randint(1, 99)}"}},
        {"type": "embedCard", "attrs": {"url": "https://status.example.com/", "layout": "center"}},
    ]


def _media(rng: random.Random, tg: TextGen) -> list[Node]:
    media = {
        "type": "media",
        "attrs": {
            "id": f"{rng.getrandbits(64):016x}",
            "type": "file",
            "collection": "jira-sandbox",
            "alt": "screenshot.png",
        },
    }
    single = {"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [media]}
    group = {"type": "mediaGroup", "content": [dict(media, attrs=dict(media["attrs"], alt="log.txt"))]}
    return [single, group]


def _blocks(rng: random.Random, tg: TextGen, people: list[Person]) -> dict[str, Callable[[], list[Node]]]:
    """The block builders, by name, so ``kitchen_sink`` can take all of them and ``adf_doc`` a few."""
    return {
        "heading": lambda: [_heading(rng, tg)],
        "bullets": lambda: [_list("bulletList", rng, tg)],
        "ordered": lambda: [_list("orderedList", rng, tg)],
        "tasks": lambda: [_task_list(rng, tg)],
        "decisions": lambda: [_decision_list(rng, tg)],
        "code": lambda: [_code_block(rng, tg)],
        "table": lambda: [_table(rng, tg)],
        "panel": lambda: [_panel(rng, tg)],
        "quote": lambda: [_blockquote(rng, tg)],
        "expand": lambda: [_expand(rng, tg)],
        "inline": lambda: [_inline_bits(rng, tg)],
        "cards": lambda: _cards(rng, tg),
        "media": lambda: _media(rng, tg),
        "rule": lambda: [{"type": "rule"}],
    }


def adf_doc(rng: random.Random, people: list[Person], blocks: int | None = None) -> Node:
    """A description-like document: rich paragraphs mixed with a few block nodes chosen by ``rng``."""
    tg = TextGen(rng.getrandbits(32))
    builders = _blocks(rng, tg, people)
    names = sorted(builders)
    content = [_rich_paragraph(rng, tg, people)]
    for _ in range(blocks if blocks is not None else rng.randint(1, 4)):
        content += builders[rng.choice(names)]()
        if rng.random() < 0.5:
            content.append(_rich_paragraph(rng, tg, people))
    return {"type": "doc", "version": 1, "content": content}


def kitchen_sink(rng: random.Random, people: list[Person]) -> Node:
    """A document with every node type of ``NODE_TYPES``."""
    tg = TextGen(rng.getrandbits(32))
    builders = _blocks(rng, tg, people)
    first = _para(
        _text(tg.sentence() + " cc "),
        _mention(people[0]),
        _text(" see "),
        _link(rng, tg),
        {"type": "hardBreak"},
        _emoji(rng),
    )
    content = [first]
    for name in sorted(builders):
        content += builders[name]()
    return {"type": "doc", "version": 1, "content": content}


def adf_paragraphs(rng: random.Random, people: list[Person]) -> Node:
    """A comment-like document: one or two paragraphs, sometimes with a mention or a list."""
    tg = TextGen(rng.getrandbits(32))
    content = [_rich_paragraph(rng, tg, people)]
    if rng.random() < 0.2:
        content.append(_list("bulletList", rng, tg))
    return {"type": "doc", "version": 1, "content": content}
