"""The Jira sandbox's mutable state: the generated corpus plus the edits made through the control API.

The generated corpus never changes; edits, new issues, new comments and deletions are kept as an overlay, so
``reset`` is just dropping the overlay. Rendering turns stubs into Jira's JSON shapes.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.adf_gen import adf_paragraphs
from sandbox.context import Clock
from sandbox.jira import corpus as corpus
from sandbox.jira.jql import Row

__all__ = ["ALL_FIELDS", "EMBEDDED_COMMENTS", "JiraState", "jira_time"]

ALL_FIELDS = (
    "summary",
    "description",
    "status",
    "issuetype",
    "priority",
    "assignee",
    "reporter",
    "created",
    "updated",
    "project",
    "labels",
    "comment",
    "resolution",
    "security",
)
EMBEDDED_COMMENTS = 100  # search/bulkfetch embed at most this many comments; the rest only via /comment
SITE = "https://sandbox.atlassian.net"


def jira_time(stamp: datetime, tz: ZoneInfo) -> str:
    """Jira's timestamp format, in the caller's time zone: ``2021-01-17T12:34:00.000+0000``."""
    local = stamp.astimezone(tz)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")


def _ms(stamp: datetime) -> datetime:
    return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)


@dataclass
class _Overlay:
    updated: dict[int, datetime] = field(default_factory=dict)  # issue id -> new updated
    version: dict[int, int] = field(default_factory=dict)  # issue id -> edits so far
    added: list[corpus.IssueStub] = field(default_factory=list)
    deleted: set[int] = field(default_factory=set)
    deleted_projects: set[str] = field(default_factory=set)  # project keys deleted with all their issues
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # issue id -> added comments
    security: dict[int, str] = field(default_factory=dict)  # issue id -> security level name
    mutations: int = 0


class JiraState:
    """One sandbox's Jira: corpus anchored at the clock's start, plus an overlay of control-API changes."""

    def __init__(self, seed: int, scale: float, clock: Clock) -> None:
        self.seed, self.scale, self.clock = seed, scale, clock
        self.anchor = clock.now()
        self.lock = threading.RLock()
        self.tz_name = "UTC"
        self.auth_fail = False
        self.overlay = _Overlay()
        self._cache: tuple[int, list[corpus.IssueStub], dict[str, corpus.IssueStub], list[Row]] | None = None

    # --- corpus access ---
    def projects(self) -> list[corpus.Project]:
        gone = self.overlay.deleted_projects
        return [p for p in corpus.projects(self.seed, self.scale, self.anchor) if p.key not in gone]

    def people(self) -> list[tuple[str, str]]:
        return corpus.people(self.seed)

    def _view(self) -> tuple[list[corpus.IssueStub], dict[str, corpus.IssueStub], list[Row]]:
        """Live stubs, an id/key index and JQL rows, rebuilt only after a mutation."""
        with self.lock:
            ov = self.overlay
            if self._cache is None or self._cache[0] != ov.mutations:
                base = corpus.issue_stubs(self.seed, self.scale, self.anchor)
                every = [
                    replace(s, updated=ov.updated[s.id], generated_updated=s.generated_updated or s.updated)
                    if s.id in ov.updated
                    else s
                    for s in (*base, *ov.added)
                ]
                live = [s for s in every if s.id not in ov.deleted and s.project.key not in ov.deleted_projects]
                index = {str(s.id): s for s in live} | {s.key: s for s in live}
                rows = [Row(s.id, s.key, s.project.key, s.number, s.created, s.updated) for s in live]
                self._cache = (ov.mutations, live, index, rows)
            return self._cache[1], self._cache[2], self._cache[3]

    def stubs(self) -> list[corpus.IssueStub]:
        """Live issues with their current ``updated``, in id order."""
        return self._view()[0]

    def rows(self) -> list[Row]:
        return self._view()[2]

    def find(self, id_or_key: str) -> corpus.IssueStub | None:
        return self._view()[1].get(id_or_key.upper())

    def comments(self, stub: corpus.IssueStub) -> list[dict[str, Any]]:
        generated = [corpus.make_comment(self.seed, stub, j) for j in range(stub.comment_count)]
        return generated + self.overlay.comments.get(stub.id, [])

    # --- mutations (control API) ---
    def _touch(self, stub: corpus.IssueStub) -> None:
        self.overlay.updated[stub.id] = _ms(self.clock.now())
        self.overlay.mutations += 1

    def edit(self, key: str | None, n: int) -> list[corpus.IssueStub]:
        with self.lock:
            live = [s for s in self.stubs() if not s.project.archived]  # archived projects are read-only
            if key:
                chosen = [s for s in live if s.key == key.upper()]
                if not chosen:
                    raise KeyError(f"no issue {key}")
            else:
                rng = random.Random(f"{self.seed}:jira:edit:{self.overlay.mutations}")
                chosen = sorted(rng.sample(live, min(n, len(live))), key=lambda s: s.id)
            for stub in chosen:
                self.overlay.version[stub.id] = self.overlay.version.get(stub.id, 0) + 1
                self._touch(stub)
            return chosen

    def add(self, project_key: str | None, n: int) -> list[corpus.IssueStub]:
        with self.lock:
            live_projects = [p for p in self.projects() if not p.archived]
            project = live_projects[0]
            if project_key:
                matches = [p for p in self.projects() if p.key == project_key.upper()]
                if not matches:
                    raise KeyError(f"no project {project_key}")
                project = matches[0]
            now = _ms(self.clock.now())
            generated = corpus.issue_stubs(self.seed, self.scale, self.anchor)
            made = []
            for _ in range(n):
                numbers = [s.number for s in (*generated, *self.overlay.added) if s.project == project]
                index = len(generated) + len(self.overlay.added)
                stub = corpus.new_stub(self.seed, index, project, max(numbers, default=0) + 1, now)
                self.overlay.added.append(stub)
                made.append(stub)
            self.overlay.mutations += 1
            return made

    def comment(
        self, key: str, body: Any | None = None, *, visibility: dict[str, Any] | None = None, jsd_public: bool = True
    ) -> tuple[corpus.IssueStub, dict[str, Any]]:
        """Add a comment; ``visibility`` limits it to a role/group; ``jsd_public=False``: a JSM internal note."""
        with self.lock:
            stub = self.find(key)
            if stub is None:
                raise KeyError(f"no issue {key}")
            added = self.overlay.comments.setdefault(stub.id, [])
            j = stub.comment_count + len(added)
            rng = random.Random(f"{self.seed}:jira:new-comment:{stub.id}:{j}")
            comment = {
                "id": str(1_000_000 + stub.index * 1000 + j),
                "author": 0,
                "body": body or adf_paragraphs(rng, self.people()),
                "created": _ms(self.clock.now()),
                "visibility": visibility,
                "jsdPublic": jsd_public,
            }
            added.append(comment)
            self._touch(stub)
            return stub, comment

    def set_security(self, key: str, level: str | None) -> corpus.IssueStub:
        """Put the issue under the security level ``level`` (a name), or none."""
        with self.lock:
            stub = self.find(key)
            if stub is None:
                raise KeyError(f"no issue {key}")
            if level:
                self.overlay.security[stub.id] = level
            else:
                self.overlay.security.pop(stub.id, None)
            self._touch(stub)
            return stub

    def delete(self, key: str | None) -> corpus.IssueStub:
        with self.lock:
            live = [s for s in self.stubs() if not s.project.archived]
            stub = (
                self.find(key) if key else random.Random(f"{self.seed}:jira:del:{self.overlay.mutations}").choice(live)
            )
            if stub is None:
                raise KeyError(f"no issue {key}")
            self.overlay.deleted.add(stub.id)
            self.overlay.mutations += 1
            return stub

    def delete_project(self, key: str) -> list[corpus.IssueStub]:
        """Delete a project and every issue in it (they leave every listing); the issues it held."""
        with self.lock:
            if key not in {p.key for p in self.projects()}:
                raise KeyError(f"no project {key}")
            issues = [s for s in self.stubs() if s.project.key == key]
            self.overlay.deleted_projects.add(key)
            self.overlay.mutations += 1
            return issues

    def reset(self) -> None:
        with self.lock:
            self.overlay = _Overlay()
            self._cache = None
            self.tz_name = "UTC"
            self.auth_fail = False

    # --- rendering ---
    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.tz_name)

    def user(self, n: int, base: str) -> dict[str, Any]:
        account, name = self.people()[n]
        return {
            "self": f"{base}/rest/api/3/user?accountId={account}",
            "accountId": account,
            "avatarUrls": {
                size: f"{SITE}/avatar/{account[-8:]}?s={size[:2]}" for size in ("48x48", "24x24", "16x16", "32x32")
            },
            "displayName": name,
            "active": True,
            "timeZone": "UTC",
            "accountType": "atlassian",
        }

    def project_ref(self, project: corpus.Project, base: str) -> dict[str, Any]:
        return {
            "self": f"{base}/rest/api/3/project/{project.id}",
            "id": project.id,
            "key": project.key,
            "name": project.name,
            "projectTypeKey": "software",
            "simplified": False,
        }

    def render_comment(self, stub: corpus.IssueStub, c: dict[str, Any], base: str) -> dict[str, Any]:
        author = self.user(c["author"], base)
        stamp = jira_time(c["created"], self.tz)
        out = {
            "self": f"{base}/rest/api/3/issue/{stub.id}/comment/{c['id']}",
            "id": c["id"],
            "author": author,
            "body": c["body"],
            "updateAuthor": author,
            "created": stamp,
            "updated": stamp,
            "jsdPublic": c.get("jsdPublic", True),
        }
        if c.get("visibility"):
            out["visibility"] = c["visibility"]
        return out

    def render_issue(self, stub: corpus.IssueStub, wanted: list[str], base: str) -> dict[str, Any]:
        """One ``IssueBean``; ``wanted`` is the resolved field list (``id`` alone gives ``{"id"}``)."""
        fields_wanted = [f for f in wanted if f in ALL_FIELDS]
        if not fields_wanted:
            out: dict[str, Any] = {"id": str(stub.id)}
            if "key" in wanted:
                out["key"] = stub.key
            return out
        gen = corpus.issue_fields(self.seed, stub, self.overlay.version.get(stub.id, 0))
        values: dict[str, Any] = {}
        for name in fields_wanted:
            values[name] = self._field(name, stub, gen, base)
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": str(stub.id),
            "self": f"{base}/rest/api/3/issue/{stub.id}",
            "key": stub.key,
            "fields": values,
        }

    def _field(self, name: str, stub: corpus.IssueStub, gen: dict[str, Any], base: str) -> Any:
        tz = self.tz
        if name == "status":
            ident, label, cat_id, cat_key, color = corpus.STATUSES[gen["status"]]
            category = {
                "self": f"{base}/rest/api/3/statuscategory/{cat_id}",
                "id": cat_id,
                "key": cat_key,
                "colorName": color,
                "name": {"new": "To Do", "done": "Done"}.get(cat_key, "In Progress"),
            }
            return {
                "self": f"{base}/rest/api/3/status/{ident}",
                "description": "",
                "name": label,
                "id": ident,
                "statusCategory": category,
            }
        if name == "resolution":
            done = corpus.STATUSES[gen["status"]][3] == "done"
            return {"id": "10000", "name": "Done", "description": "Work has been completed."} if done else None
        if name in ("assignee", "reporter"):
            return None if gen[name] is None else self.user(gen[name], base)
        if name == "issuetype":
            return corpus.issue_type(gen["issuetype"])
        if name == "priority":
            return corpus.priority(gen["priority"])
        if name in ("created", "updated"):
            return jira_time(stub.created if name == "created" else stub.updated, tz)
        if name == "project":
            return self.project_ref(stub.project, base)
        if name == "security":
            level = self.overlay.security.get(stub.id)
            if level is None:
                return None
            ident = str(10000 + sum(map(ord, level)) % 1000)
            return {"self": f"{base}/rest/api/3/securitylevel/{ident}", "id": ident, "name": level, "description": ""}
        if name == "comment":
            comments = self.comments(stub)
            shown = [self.render_comment(stub, c, base) for c in comments[:EMBEDDED_COMMENTS]]
            return {
                "comments": shown,
                "self": f"{base}/rest/api/3/issue/{stub.id}/comment",
                "maxResults": len(shown),
                "total": len(comments),
                "startAt": 0,
            }
        return gen[name]
