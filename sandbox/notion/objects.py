"""Serialise the Notion corpus into the API's JSON objects (page, database, block), Notion-Version 2022-06-28.

Every timestamp goes through ``minute``: Notion rounds ``created_time``/``last_edited_time`` DOWN to the minute.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox.notion.corpus import Block, NotionCorpus, Page, rich_text

__all__ = ["NotionError", "block_object", "database_object", "minute", "page_object"]


class NotionError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


def _ts(when: datetime) -> str:
    return minute(when).strftime("%Y-%m-%dT%H:%M:00.000Z")


def _user(user_id: str) -> dict[str, Any]:
    return {"object": "user", "id": user_id}


def _url(title: str, object_id: str) -> str:
    slug = "-".join(w for w in "".join(c if c.isalnum() else " " for c in title).split()[:6])
    return f"https://www.notion.so/{slug}-{object_id.replace('-', '')}"


def page_object(corpus: NotionCorpus, page: Page) -> dict[str, Any]:
    trashed = corpus.is_trashed(page)
    if page.row is None:
        properties: dict[str, Any] = {"title": {"id": "title", "type": "title", "title": rich_text(page.title)}}
    else:
        row = page.row
        properties = {
            "Name": {"id": "title", "type": "title", "title": rich_text(page.title)},
            "Status": {"id": "s%3Bt", "type": "select", "select": _option(row["status"])},
            "Tags": {
                "id": "t%3Ag",
                "type": "multi_select",
                "multi_select": [_option(t) for t in row["tags"]],
            },
            "Due": {
                "id": "d%3Du",
                "type": "date",
                "date": {"start": row["due"], "end": None, "time_zone": None},
            },
            "Jira": {
                "id": "j%3Ai",
                "type": "rich_text",
                "rich_text": rich_text(row["jira"]) if row["jira"] else [],
            },
        }
    return {
        "object": "page",
        "id": page.id,
        "created_time": _ts(page.created),
        "last_edited_time": _ts(page.edited),
        "created_by": _user(page.author),
        "last_edited_by": _user(page.author),
        "cover": None,
        "icon": None,
        "parent": dict(page.parent),
        "archived": trashed,
        "in_trash": trashed,
        "properties": properties,
        "url": _url(page.title, page.id),
        "public_url": None,
    }


def _option(name: str) -> dict[str, Any]:
    return {"id": name[:4].lower(), "name": name, "color": "default"}


def database_object(corpus: NotionCorpus, data_source: bool) -> dict[str, Any]:
    db = corpus.database
    schema = {
        "Name": {"id": "title", "name": "Name", "type": "title", "title": {}},
        "Status": {"id": "s%3Bt", "name": "Status", "type": "select", "select": {"options": []}},
        "Tags": {"id": "t%3Ag", "name": "Tags", "type": "multi_select", "multi_select": {"options": []}},
        "Due": {"id": "d%3Du", "name": "Due", "type": "date", "date": {}},
        "Jira": {"id": "j%3Ai", "name": "Jira", "type": "rich_text", "rich_text": {}},
    }
    return {
        "object": "data_source" if data_source else "database",
        "id": db["id"],
        "cover": None,
        "icon": {"type": "emoji", "emoji": "🗂️"},
        "created_time": _ts(db["created"]),
        "created_by": _user(corpus.users[0]),
        "last_edited_by": _user(corpus.users[0]),
        "last_edited_time": _ts(db["edited"]),
        "title": rich_text(db["title"]),
        "description": [],
        "is_inline": False,
        "properties": schema,
        "parent": {"type": "page_id", "page_id": db["host"]},
        "url": _url(db["title"], db["id"]),
        "public_url": None,
        "archived": False,
        "in_trash": False,
    }


def block_object(corpus: NotionCorpus, block: Block) -> dict[str, Any]:
    payload = block.payload
    has_children = bool(block.children)
    if block.type == "child_page":
        # The block is the child page itself: its title is the page's current title.
        payload = {"title": corpus.pages[block.id].title}
        has_children = True
    return {
        "object": "block",
        "id": block.id,
        "parent": dict(block.parent),
        "created_time": _ts(block.created),
        "last_edited_time": _ts(block.edited),
        "created_by": _user(block.author),
        "last_edited_by": _user(block.author),
        "has_children": has_children,
        "archived": False,
        "in_trash": False,
        "type": block.type,
        block.type: payload,
    }
