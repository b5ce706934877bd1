"""A deterministic Notion workspace: a page tree, one database with rows, trashed pages, nested block content.

Pages are built eagerly (light records); a page's blocks are generated on first use from (seed, page index).
Block ids carry their page's index in their last 12 hex digits, so any block id leads back to its page without
a registry. Timestamps are kept exact here and rounded down to the minute only when serialised (the API's job).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sandbox.text import TextGen

__all__ = ["Block", "NotionCorpus", "Page", "notion_id", "rich_text"]

_SPAN = timedelta(days=730)
_STATUSES = ("Not started", "In progress", "Blocked", "Done")
_TAGS = ("backend", "frontend", "infra", "security", "data", "mobile")
_LANGS = ("python", "sql", "bash", "typescript", "yaml")


def notion_id(*parts: object) -> str:
    """A UUID-shaped id, stable for the given parts."""
    h = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _block_id(page_index: int, seq: int, seed: int) -> str:
    h = hashlib.sha256(f"{seed}:block:{page_index}:{seq}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-b{h[17:20]}-{page_index:06x}{seq:06x}"


def block_page_index(block_id: str) -> int | None:
    """The index of the page a generated block belongs to, or None when the id is not a block id."""
    parts = block_id.split("-")
    if len(parts) != 5 or len(parts[4]) != 12 or not parts[3].startswith("b"):
        return None
    try:
        return int(parts[4][:6], 16)
    except ValueError:
        return None


def rich_text(content: str, link: str | None = None) -> list[dict[str, Any]]:
    annotations = {
        "bold": False,
        "italic": False,
        "strikethrough": False,
        "underline": False,
        "code": False,
        "color": "default",
    }
    return [
        {
            "type": "text",
            "text": {"content": content, "link": {"url": link} if link else None},
            "annotations": annotations,
            "plain_text": content,
            "href": link,
        }
    ]


@dataclass
class Page:
    index: int
    id: str
    title: str
    created: datetime
    edited: datetime
    parent: dict[str, Any]  # {"type": "page_id", "page_id": …} | {"type": "database_id", …} | workspace
    author: str
    trashed: bool = False
    row: dict[str, Any] | None = None  # database row values (status, tags, due, jira)
    children: list[str] = field(default_factory=list)  # child page ids, in creation order


@dataclass
class Block:
    id: str
    parent: dict[str, Any]
    type: str
    payload: dict[str, Any]
    created: datetime
    edited: datetime
    author: str
    children: list[str] = field(default_factory=list)


class NotionCorpus:
    """Pages, one database and lazily generated block trees for one (seed, scale, now)."""

    def __init__(self, seed: int, scale: float, now: datetime, jira_keys: list[str] | None = None) -> None:
        self.seed = seed
        self.now = now
        self.start = now - _SPAN
        self.jira_keys = jira_keys or []
        self.users = [notion_id(seed, "user", i) for i in range(max(6, int(40 * scale)))]
        self.bot_id = notion_id(seed, "bot")
        self.pages: dict[str, Page] = {}
        self.by_index: list[Page] = []
        self.blocks: dict[str, Block] = {}
        self._page_blocks: dict[str, list[str]] = {}  # page id -> top-level block ids (generated pages only)
        self._block_counts: dict[str, int] = {}
        self.database = self._make_database()
        self._make_pages(max(40, int(1500 * scale)))

    def _when(self, rng: random.Random) -> tuple[datetime, datetime]:
        created = self.start + timedelta(seconds=rng.randint(0, int(_SPAN.total_seconds()) - 86400))
        edited = created + timedelta(seconds=rng.randint(0, int((self.now - created).total_seconds()) - 60))
        return created, edited

    def _make_database(self) -> dict[str, Any]:
        rng = random.Random(f"{self.seed}:notion:database")
        created, _ = self._when(rng)
        return {
            "id": notion_id(self.seed, "database"),
            "title": "Engineering Tasks",
            "created": created,
            "edited": created,
            "host": None,
        }

    def _make_pages(self, n: int) -> None:
        top = max(3, n // 20)
        rows = max(8, n // 5)
        for i in range(n):
            rng = random.Random(f"{self.seed}:notion:page:{i}")
            created, edited = self._when(rng)
            row = None
            if i < top:
                parent: dict[str, Any] = {"type": "workspace", "workspace": True}
            elif i < top + rows:
                parent = {"type": "database_id", "database_id": self.database["id"]}
                row = {
                    "status": rng.choice(_STATUSES),
                    "tags": rng.sample(_TAGS, rng.randint(0, 2)),
                    "due": (created + timedelta(days=rng.randint(3, 40))).date().isoformat(),
                    "jira": rng.choice(self.jira_keys) if self.jira_keys else "",
                }
            else:
                # Parents are earlier pages, so chains grow deep (child of child of child …).
                candidates = [p for p in self.by_index[:i] if p.row is None]
                host = candidates[-1] if rng.random() < 0.25 else rng.choice(candidates)
                parent = {"type": "page_id", "page_id": host.id}
            page = Page(
                index=i,
                id=notion_id(self.seed, "page", i),
                title=TextGen(rng.random()).title(),
                created=created,
                edited=edited,
                parent=parent,
                author=rng.choice(self.users),
                row=row,
            )
            # A few pages are in the trash (at least two at any scale).
            page.trashed = i in (top + rows, top + rows + 1) or (i > top + rows and rng.random() < 0.03)
            self._add(page)
        self.database["host"] = self.by_index[0].id

    def _add(self, page: Page) -> None:
        self.pages[page.id] = page
        self.by_index.append(page)
        if page.parent["type"] == "page_id":
            self.pages[page.parent["page_id"]].children.append(page.id)

    def add_page(self, title: str, parent_page_id: str | None, now: datetime) -> Page:
        index = len(self.by_index)
        parent: dict[str, Any] = (
            {"type": "page_id", "page_id": parent_page_id}
            if parent_page_id
            else {"type": "workspace", "workspace": True}
        )
        page = Page(
            index=index,
            id=notion_id(self.seed, "page", index),
            title=title,
            created=now,
            edited=now,
            parent=parent,
            author=self.users[0],
        )
        self._add(page)
        self._page_blocks[page.id] = []  # a new page starts with one paragraph, not generated content
        self._append(page, "paragraph", _text(f"{title}: created in the sandbox."), now)
        host = self.pages.get(parent_page_id or "")
        if host is not None and host.id in self._page_blocks:
            self._append(host, "child_page", {"title": title}, now, fixed_id=page.id)
        return page

    def is_trashed(self, page: Page) -> bool:
        """A page is archived when it or any ancestor page is in the trash."""
        current: Page | None = page
        while current is not None:
            if current.trashed:
                return True
            parent_id = current.parent.get("page_id")
            current = self.pages.get(parent_id) if parent_id else None
        return False

    # ---- blocks ------------------------------------------------------------------------------------------
    def top_blocks(self, page: Page) -> list[str]:
        self._ensure_blocks(page)
        return self._page_blocks[page.id]

    def block(self, block_id: str) -> Block | None:
        index = block_page_index(block_id)
        if index is not None and index < len(self.by_index):
            self._ensure_blocks(self.by_index[index])
        return self.blocks.get(block_id)

    def _ensure_blocks(self, page: Page) -> None:
        if page.id in self._page_blocks:
            return
        self._page_blocks[page.id] = []
        rng = random.Random(f"{self.seed}:notion:blocks:{page.index}")
        gen = TextGen(rng.random())
        edited = page.edited
        self._append(page, "heading_1", _heading(page.title), edited)
        for _ in range(rng.randint(3, 9)):
            self._random_block(page, rng, gen, None, depth=1, when=edited)
        # The nested structures every page has at least once: depth ≥ 3, a table, a to-do, code.
        toggle = self._append(page, "toggle", {"rich_text": rich_text("Details"), "color": "default"}, edited)
        bullet = self._append(page, "bulleted_list_item", _text(gen.sentence()), edited, toggle)
        self._append(page, "bulleted_list_item", _text(gen.sentence()), edited, bullet)
        self._append(page, "to_do", {**_text(gen.sentence()), "checked": rng.random() < 0.5}, edited)
        self._append(
            page,
            "code",
            {
                "rich_text": rich_text(f"SELECT count(*) FROM events; -- {gen.words(3)}"),
                "caption": [],
                "language": rng.choice(_LANGS),
            },
            edited,
        )
        self._table(page, rng, gen, edited)
        for child_id in page.children:
            child = self.pages[child_id]
            self._append(page, "child_page", {"title": child.title}, child.created, fixed_id=child.id)
        if self.database["host"] == page.id:
            db = self.database
            self._append(page, "child_database", {"title": db["title"]}, db["created"], fixed_id=db["id"])

    def _random_block(
        self, page: Page, rng: random.Random, gen: TextGen, parent: str | None, depth: int, when: datetime
    ) -> None:
        kind = rng.choice(
            (
                "paragraph",
                "paragraph",
                "heading_2",
                "heading_3",
                "bulleted_list_item",
                "numbered_list_item",
                "quote",
                "callout",
                "toggle",
                "divider",
            )
        )
        if kind.startswith("heading"):
            payload = _heading(gen.title())
        elif kind == "divider":
            payload = {}
        elif kind == "callout":
            payload = {**_text(gen.sentence()), "icon": {"type": "emoji", "emoji": "💡"}}
        else:
            payload = _text(gen.paragraph(rng.randint(1, 3)) if kind == "paragraph" else gen.sentence())
        if self.jira_keys and kind == "paragraph" and rng.random() < 0.2:
            key = rng.choice(self.jira_keys)
            payload["rich_text"] = payload["rich_text"] + rich_text(f" See {key}.")
        block_id = self._append(page, kind, payload, when, parent)
        if kind in ("toggle", "bulleted_list_item", "callout", "quote") and depth < 4 and rng.random() < 0.4:
            for _ in range(rng.randint(1, 3)):
                self._random_block(page, rng, gen, block_id, depth + 1, when)

    def _table(self, page: Page, rng: random.Random, gen: TextGen, when: datetime) -> None:
        table = self._append(
            page, "table", {"table_width": 3, "has_column_header": True, "has_row_header": False}, when
        )
        for r in range(rng.randint(2, 4)):
            cells = [rich_text(w) for w in (("Owner", "Area", "Status") if r == 0 else gen.words(3).split())]
            self._append(page, "table_row", {"cells": cells}, when, table)

    def _append(
        self,
        page: Page,
        kind: str,
        payload: dict[str, Any],
        when: datetime,
        parent_block: str | None = None,
        fixed_id: str | None = None,
    ) -> str:
        if parent_block:
            siblings = self.blocks[parent_block].children
            parent: dict[str, Any] = {"type": "block_id", "block_id": parent_block}
        else:
            siblings = self._page_blocks.setdefault(page.id, [])
            parent = {"type": "page_id", "page_id": page.id}
        seq = self._block_counts.get(page.id, 0)
        self._block_counts[page.id] = seq + 1
        # child_page / child_database blocks carry the id of the page / database they stand for.
        block_id = fixed_id or _block_id(page.index, seq, self.seed)
        self.blocks[block_id] = Block(block_id, parent, kind, payload, when, when, page.author)
        siblings.append(block_id)
        return block_id

    def replace_paragraph(self, page: Page, block_id: str | None, text: str, now: datetime) -> tuple[Block, str]:
        """Set the text of paragraph ``block_id`` (default: the page's first top-level paragraph); the old text."""
        self._ensure_blocks(page)
        if block_id is None:
            block_id = next(b for b in self._page_blocks[page.id] if self.blocks[b].type == "paragraph")
        block = self.blocks[block_id]
        if block.type != "paragraph":
            raise ValueError(f"block {block_id} is a {block.type}, not a paragraph")
        old = "".join(item["plain_text"] for item in block.payload.get("rich_text", []))
        block.payload = {"rich_text": rich_text(text), "color": "default"}
        block.edited = now
        return block, old

    def append_paragraph(self, page: Page, text: str, now: datetime) -> str:
        self._ensure_blocks(page)
        return self._append(page, "paragraph", {"rich_text": rich_text(text), "color": "default"}, now)


def _text(content: str) -> dict[str, Any]:
    return {"rich_text": rich_text(content), "color": "default"}


def _heading(content: str) -> dict[str, Any]:
    return {"rich_text": rich_text(content), "is_toggleable": False, "color": "default"}
