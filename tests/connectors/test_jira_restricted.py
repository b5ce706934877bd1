"""Restricted Jira content never reaches every reader: role/group-restricted comments and JSM internal notes stay
out of the text unless opted in, and every document carries the project and security level as metadata and acl."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from connectors.base import Partition, Window, parse_timestamp
from connectors.jira import JIRA_FIELDS, JiraConfig, JiraConnector, issue_to_document
from core.settings import Settings
from ingest.document import Document
from sandbox.server import RunningSandbox

BIG_ISSUE = "10007"  # the sandbox corpus gives it > 100 comments: later ones come only from /comment paging
ROLE = {"type": "role", "value": "Administrators", "identifier": "Administrators"}
GROUP = {"type": "group", "value": "finance", "identifier": "276f955c-63d7-42c8-9520-92d01dca0625"}


def adf(text: str) -> dict[str, Any]:
    paragraph = {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    return {"type": "doc", "version": 1, "content": [paragraph]}


def comment(n: int, text: str, **extra: Any) -> dict[str, Any]:
    author = {"displayName": f"P{n}"}
    return {"id": str(100 + n), "author": author, "created": f"2025-03-0{n}T00:00:00Z", "body": adf(text), **extra}


def issue(security: Any = None) -> dict[str, Any]:
    fields = {
        "summary": "Payroll export",
        "project": {"id": "10000", "key": "FIN", "name": "Finance"},
        "created": "2025-03-01T00:00:00.000+0000",
        "updated": "2025-03-09T00:00:00.000+0000",
        "security": security,
    }
    return {"id": "20001", "key": "FIN-1", "fields": fields}


COMMENTS = [
    comment(1, "public reply", jsdPublic=True),
    comment(2, "salary table for admins", visibility=ROLE),
    comment(3, "finance group only", visibility=GROUP),
    comment(4, "agent-only internal note", jsdPublic=False),
]


# -- the pure mapper ---------------------------------------------------------------------------------------


def test_restricted_comments_are_left_out_and_counted_by_default() -> None:
    doc = issue_to_document(issue(), COMMENTS, "https://acme.atlassian.net")
    assert "public reply" in doc.text
    for secret in ("salary table", "finance group only", "internal note"):
        assert secret not in doc.text
    assert doc.metadata["comment_count"] == 1 and doc.metadata["restricted_comments"] == 3
    assert doc.metadata["project"] == "FIN" and doc.metadata["security_level"] == "none"
    assert doc.acl == ["jira:project:FIN"]


def test_opting_in_includes_them_and_narrows_the_acl_to_their_readers() -> None:
    doc = issue_to_document(issue(), COMMENTS, "https://acme.atlassian.net", include_restricted=True)
    assert all(text in doc.text for text in ("public reply", "salary table", "finance group only", "internal note"))
    assert doc.metadata["comment_count"] == 4 and doc.metadata["restricted_comments"] == 3
    # normalised (core/acl.py): sorted, the order of entries carries no meaning ("holds every entry")
    assert doc.acl == ["jira:group:finance", "jira:jsm:internal", "jira:project:FIN", "jira:role:Administrators"]


def test_security_level_is_metadata_and_acl() -> None:
    level = {"self": "https://acme.atlassian.net/rest/api/3/securitylevel/10001", "id": "10001", "name": "Payroll"}
    doc = issue_to_document(issue(level), [], "https://acme.atlassian.net")
    assert doc.metadata["security_level"] == "Payroll"
    assert doc.acl == ["jira:project:FIN", "jira:security:Payroll"]


def test_an_issue_without_a_project_is_not_mapped() -> None:
    raw = issue()
    del raw["fields"]["project"]
    with pytest.raises(KeyError):  # no project, no acl: a FetchFailure rather than a document for everyone
        issue_to_document(raw, [], "https://acme.atlassian.net")


def test_security_is_requested_from_jira() -> None:
    assert "security" in JIRA_FIELDS and "comment" in JIRA_FIELDS


# -- end to end over HTTP against the sandbox ------------------------------------------------------------------


def settings_for(sb: RunningSandbox) -> Settings:
    return Settings(**{k.lower(): v for k, v in sb.env.items() if k.startswith("JIRA_")})


@pytest.fixture
def restricted(fresh_sandbox: RunningSandbox) -> Iterator[RunningSandbox]:
    """ENG-3 and the big issue get a role-restricted comment, a JSM internal note and a public one."""
    for key in ("ENG-3", BIG_ISSUE):
        fresh_sandbox.control("jira/comment", {"key": key, "body": adf(f"public on {key}")})
        fresh_sandbox.control("jira/comment", {"key": key, "body": adf(f"admins only on {key}"), "visibility": ROLE})
        fresh_sandbox.control("jira/comment", {"key": key, "body": adf(f"internal on {key}"), "jsdPublic": False})
    fresh_sandbox.control("jira/set_security", {"key": "ENG-3", "level": "Staff only"})
    yield fresh_sandbox
    fresh_sandbox.control("reset")


def _eng3(jira: JiraConnector, sb: RunningSandbox) -> Document:
    """ENG-3 read through its window partition (search/jql, embedded comments)."""
    now = parse_timestamp(sb.control("jira/edit_issue", {"key": "ENG-3"})["updated"][0])
    part = Partition(source="jira", scope="ENG", start=now - timedelta(hours=1), end=now + timedelta(hours=1))
    [doc] = [d for d in jira.fetch(part) if isinstance(d, Document) and d.metadata["key"] == "ENG-3"]
    return doc


def _big(jira: JiraConnector) -> Document:
    """The big issue read by id (bulkfetch), its last comments through /comment paging."""
    window = Window(start=parse_timestamp("2026-01-01T00:00:00Z"), end=parse_timestamp("2030-01-01T00:00:00Z"))
    [part] = jira.refetch_partitions([f"jira:{BIG_ISSUE}"], None, window)
    [doc] = list(jira.fetch(part))
    assert isinstance(doc, Document) and int(doc.metadata["comment_count"]) > 100  # type: ignore[call-overload]
    return doc


def test_restricted_comments_stay_out_of_documents_fetched_over_http(restricted: RunningSandbox) -> None:
    with JiraConnector(JiraConfig.from_settings(settings_for(restricted), rate_per_s=None)) as jira:
        for doc, key in ((_eng3(jira, restricted), "ENG-3"), (_big(jira), BIG_ISSUE)):
            assert f"public on {key}" in doc.text
            assert f"admins only on {key}" not in doc.text and f"internal on {key}" not in doc.text
            assert doc.metadata["restricted_comments"] == 2
        eng3 = _eng3(jira, restricted)
        assert eng3.metadata["security_level"] == "Staff only"
        assert eng3.acl == ["jira:project:ENG", "jira:security:Staff only"]
        assert _big(jira).metadata["security_level"] == "none"


def test_opt_in_includes_restricted_comments_over_http(restricted: RunningSandbox) -> None:
    with JiraConnector(
        JiraConfig.from_settings(settings_for(restricted), rate_per_s=None, include_restricted_comments=True)
    ) as jira:
        doc = _big(jira)
    assert f"admins only on {BIG_ISSUE}" in doc.text and f"internal on {BIG_ISSUE}" in doc.text
    assert {"jira:role:Administrators", "jira:jsm:internal"} <= set(doc.acl or [])
