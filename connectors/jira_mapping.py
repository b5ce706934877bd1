"""Jira's pure parts: JQL for a window, the issue → Document mapper, and the ids of failures. No I/O.

Who may read what: every Document's ``acl`` is ``jira:project:<KEY>`` plus ``jira:security:<level name>`` when
the issue has a security level (metadata ``project`` and ``security_level``, ``"none"`` without one). Restricted
comments (a ``visibility`` role/group, or a JSM internal note, ``jsdPublic: false``) stay out of the text and are
only counted (``restricted_comments``) unless the mapper is asked to include them; then each restriction is added
to the ``acl`` (``jira:role:<name>``, ``jira:group:<name>``, ``jira:jsm:internal``), so the document is only for
readers who hold all of them.

Failure ids: an issue that cannot be mapped is the failure ``jira:<id>``; one without a numeric ``id`` is
``jira:<KEY>`` (never a Document id: those are numeric — ``issue_id`` refuses any other — so the key cannot collide
with one), and one with neither is ``jira:unidentified-<digest of the raw issue>``, which cannot be looked up by id
or key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from connectors.adf import adf_to_text
from connectors.base import epoch_ms, parse_timestamp
from ingest.document import Document, MetadataValue

__all__ = [
    "can_look_up",
    "failure_id",
    "is_restricted",
    "issue_id",
    "issue_to_document",
    "lookup_ids",
    "project_clause",
    "window_jql",
]


def _quoted(value: str) -> str:
    # Project keys are quoted: reserved words (e.g. a project called "AND") break unquoted JQL.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]*-[0-9]+$")


def _is_numeric(value: str) -> bool:
    return value.isascii() and value.isdigit()


def can_look_up(native: str) -> bool:
    """An issue id or key that bulkfetch can look up (``10042``, ``ENG-42``)."""
    return _is_numeric(native) or bool(_ISSUE_KEY.match(native))


def lookup_ids(doc_ids: Iterable[str]) -> list[str]:
    """The issue ids and keys of the ``jira:`` ids that can be looked up: unique, numeric ids first, then keys."""
    natives = {d.removeprefix("jira:").upper() for d in doc_ids if d.startswith("jira:")}
    natives = {n for n in natives if can_look_up(n)}
    ids = sorted((n for n in natives if _is_numeric(n)), key=lambda n: (len(n), n))
    keys = sorted(
        (n for n in natives if not _is_numeric(n)), key=lambda k: (k.rpartition("-")[0], int(k.rpartition("-")[2]))
    )
    return ids + keys


def issue_id(raw: Mapping[str, Any]) -> str:
    """The issue's numeric id (Jira sends a string; a JSON number is read the same). KeyError when absent,
    ValueError when not numeric: such an id would collide with a key-form failure id, or point a URL elsewhere."""
    ident = raw["id"]
    text = "" if isinstance(ident, bool) else str(ident).strip()
    if not _is_numeric(text):
        raise ValueError(f"issue id {ident!r} is not numeric")
    return text


def failure_id(raw: Any) -> str:
    """The ledger id of an issue that could not be mapped: ``jira:<id>``, else ``jira:<KEY>``, else a digest."""
    if isinstance(raw, Mapping):
        ident = str(raw.get("id") or "").strip()
        if _is_numeric(ident):
            return f"jira:{ident}"
        key = str(raw.get("key") or "").strip().upper()
        if _ISSUE_KEY.match(key):
            return f"jira:{key}"
    digest = hashlib.sha1(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"jira:unidentified-{digest}"


def project_clause(project_keys: Iterable[str]) -> str:
    keys = [_quoted(k) for k in project_keys]
    return f"project = {keys[0]}" if len(keys) == 1 else f"project in ({', '.join(keys)})"


def window_jql(project_keys: str | Iterable[str], start: datetime, end: datetime) -> str:
    """The JQL for one partition: epoch-ms bounds (time-zone free), a total order so pages are stable."""
    keys = [project_keys] if isinstance(project_keys, str) else list(project_keys)
    return (
        f"{project_clause(keys)} AND updated >= {epoch_ms(start)} AND updated < {epoch_ms(end)} "
        "ORDER BY updated ASC, key ASC"
    )


def _name(person: Any) -> str:
    if not isinstance(person, Mapping):
        return ""
    return str(person.get("displayName") or person.get("accountId") or "")


def _comment_text(comment: Mapping[str, Any]) -> str:
    when = parse_timestamp(comment["created"]).strftime("%Y-%m-%d %H:%M UTC")
    author = _name(comment.get("author")) or "unknown"
    return f"{author} ({when}):\n{adf_to_text(comment.get('body'))}"


def is_restricted(comment: Mapping[str, Any]) -> bool:
    """A comment not every reader of the issue may see: a role/group ``visibility``, or a JSM internal note."""
    return bool(comment.get("visibility")) or comment.get("jsdPublic") is False


def _restrictions(comment: Mapping[str, Any]) -> list[str]:
    """The acl entries a reader needs to see ``comment`` (``jira:role:Administrators``, ``jira:jsm:internal``)."""
    out: list[str] = []
    visibility = comment.get("visibility")
    if isinstance(visibility, Mapping) and visibility.get("value"):
        out.append(f"jira:{visibility.get('type') or 'restricted'}:{visibility['value']}")
    elif visibility:
        out.append("jira:restricted")
    if comment.get("jsdPublic") is False:
        out.append("jira:jsm:internal")
    return out


def security_level(fields: Mapping[str, Any]) -> str:
    """The name of the issue's security level ("" when it has none): part of the acl of everything that shows the
    issue (its own document, the worklogs logged on it)."""
    security = fields.get("security")
    return str(security.get("name") or security.get("id") or "") if isinstance(security, Mapping) else ""


def issue_to_document(
    raw: Mapping[str, Any],
    comments: list[Mapping[str, Any]],
    base_url: str,
    *,
    include_restricted: bool = False,
) -> Document:
    """Pure mapper: one search/jql issue (with all comments) → Document. Raises if unmappable.

    Restricted comments are left out of the text (and counted) unless ``include_restricted``.
    """
    fields = raw["fields"]
    key = str(raw["key"])
    project = str(fields["project"]["key"])  # no project, no acl: such an issue must not reach every reader
    summary = str(fields.get("summary") or "")
    description = adf_to_text(fields.get("description"))
    restricted = [c for c in comments if is_restricted(c)]
    shown = comments if include_restricted else [c for c in comments if not is_restricted(c)]
    ordered = sorted(shown, key=lambda c: (parse_timestamp(c["created"]), str(c.get("id", ""))))
    level = security_level(fields)
    acl = [f"jira:project:{project}", *([f"jira:security:{level}"] if level else [])]
    if include_restricted:
        acl += sorted({entry for c in restricted for entry in _restrictions(c)})
    parts = [f"{key}: {summary}", description]
    if ordered:
        parts.append("Comments:\n\n" + "\n\n".join(_comment_text(c) for c in ordered))
    metadata: dict[str, MetadataValue | None] = {
        "project": project,
        "key": key,
        "status": (fields.get("status") or {}).get("name"),
        "type": (fields.get("issuetype") or {}).get("name"),
        "priority": (fields.get("priority") or {}).get("name"),
        "assignee": _name(fields.get("assignee")) or None,
        "reporter": _name(fields.get("reporter")) or None,
        "labels": [str(label) for label in fields.get("labels") or []],
        "created": fields["created"],
        "updated": fields["updated"],
        "comment_count": len(ordered),
        "restricted_comments": len(restricted),
        "security_level": level or "none",
    }
    return Document(
        id=f"jira:{issue_id(raw)}",
        source="jira",
        title=f"{key}: {summary}",
        text="\n\n".join(p for p in parts if p),
        url=f"{base_url.rstrip('/')}/browse/{quote(key, safe='')}",  # a key is data: it must not add a path or query
        created_at=parse_timestamp(fields["created"]),
        updated_at=parse_timestamp(fields["updated"]),
        metadata={k: v for k, v in metadata.items() if v is not None},
        acl=acl,
    )
