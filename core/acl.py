"""Who may read a document: the ACL model, pure and small.

**The model.** A document's ``acl`` is a list of entries such as ``jira:project:ENG`` or ``jira:security:Internal``.
A principal (a reader) is described by a set of *grants*, strings of the same shape. A document is visible to a
principal **only when the principal holds every entry of its acl**. A document without an acl (``None`` or an
empty list) is visible to nobody who searches as a principal: the filter fails closed.

Entries in use: ``jira:project:<KEY>`` (every Jira issue, and every Tempo worklog whose Jira issue Jira shows),
``jira:security:<level>`` (an issue with a security level), ``jira:role:<name>`` / ``jira:group:<name>`` /
``jira:jsm:internal`` (restricted comments, only when the Jira mapper is asked to include them),
``tempo:restricted`` (a worklog whose Jira issue Jira does not show us: no principal holds it unless configured),
``notion:workspace:<workspace id or name>`` (every Notion page and database row: the API does not expose who else may
open a page, so the integration's workspace is the finest scope; the parent page/database is in the metadata) and
``slack:channel:<channel id>`` (every Slack thread and day document, public and private channels alike: readers are
granted channels, never the whole workspace; private-channel documents also carry their member ids in metadata,
``channel_members``, and fail rather than carry a cut list).

**In a store.** "Holds every entry" cannot be written as one Pinecone filter on a list field without the universe
of entries (``$nin`` of what the reader lacks), so every chunk also carries one string field per dimension
(``acl_fields``): ``acl_scope`` (the project entry, else the acl's first entry), ``acl_security`` (the security
entry, ``"none"`` without one) and ``acl_rest`` (the other entries joined with ``|``, ``"none"`` without any).
``pinecone_filter(grants)`` keeps a chunk when its scope and security are granted and it has no other entry; a
document with further entries is thus hidden from every filtered search (fail closed). Searches then re-check
``visible_to`` on the whole ``acl`` in Python.

**Size.** An acl is never cut: cut, it would show a document to readers it was not meant for (or hide it from
all). ``normalise_acl`` refuses one over ``MAX_ACL_BYTES`` (as compact JSON) with ``AclTooLarge`` — a
``ValueError``, so a mapper building such a Document records the item as a failure instead of writing it — and
chunk metadata reserves room for the acl and its fields whole (``ingest/metadata.py``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any

__all__ = [
    "ACL_FIELDS",
    "MAX_ACL_BYTES",
    "NO_ENTRY",
    "AclTooLarge",
    "acl_fields",
    "normalise_acl",
    "pinecone_filter",
    "visible_to",
]

MAX_ACL_BYTES = 2_048  # the acl list as compact JSON; chunk metadata keeps room for it and its fields whole
NO_ENTRY = "none"  # acl_security / acl_rest of a document without such entries
ACL_FIELDS = ("acl_scope", "acl_security", "acl_rest")
_REST_SEPARATOR = "|"


class AclTooLarge(ValueError):
    """An acl that cannot be stored whole: the document must be a recorded failure, never written cut."""


def normalise_acl(entries: Iterable[str] | None) -> list[str] | None:
    """``entries`` stripped, without blanks or duplicates, sorted; ``None`` stays ``None``.

    Raises ``AclTooLarge`` when the result is over ``MAX_ACL_BYTES``, and ``ValueError`` for an entry that is
    ``"none"`` or holds ``|`` (both would be ambiguous in the per-dimension fields).
    """
    if entries is None:
        return None
    acl = sorted({entry.strip() for entry in entries if entry.strip()})
    for entry in acl:
        if entry == NO_ENTRY or _REST_SEPARATOR in entry:
            raise ValueError(f"acl entry {entry!r} is not allowed ('none' and '|' are reserved)")
    size = len(json.dumps(acl, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_ACL_BYTES:
        raise AclTooLarge(f"acl of {len(acl)} entries is {size} bytes (limit {MAX_ACL_BYTES}); it is never cut")
    return acl


def visible_to(acl: object, grants: Collection[str]) -> bool:
    """Whether a reader holding ``grants`` may see a document with ``acl``: every entry granted; no acl, no."""
    if not isinstance(acl, list | tuple) or not acl:
        return False
    held = set(grants)
    return all(isinstance(entry, str) and entry in held for entry in acl)


def acl_fields(acl: list[str]) -> dict[str, str]:
    """One string field per acl dimension, for store filters (see the module docstring)."""
    projects = [entry for entry in acl if entry.split(":")[1:2] == ["project"]]
    security = [entry for entry in acl if entry.split(":")[1:2] == ["security"]]
    scope = projects[0] if projects else (acl[0] if acl else NO_ENTRY)
    level = security[0] if len(security) == 1 else NO_ENTRY
    rest = [entry for entry in acl if entry != scope and not (len(security) == 1 and entry == level)]
    return {
        "acl_scope": scope,
        "acl_security": level,
        "acl_rest": _REST_SEPARATOR.join(rest) if rest else NO_ENTRY,
    }


def pinecone_filter(grants: Collection[str]) -> dict[str, Any]:
    """The Pinecone metadata filter for a reader holding ``grants`` (an assistant applies the same one).

    A chunk without ``acl_scope`` (written before acls, or without one) matches no ``$in`` and stays hidden.
    """
    held = sorted(set(grants))
    return {
        "acl_scope": {"$in": held or [""]},  # Pinecone rejects an empty $in; "" is no document's scope
        "acl_security": {"$in": [*held, NO_ENTRY]},
        "acl_rest": {"$eq": NO_ENTRY},
    }
