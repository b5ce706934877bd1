"""Every Jira and Tempo Document carries its acl; one that cannot be stored whole is a recorded failure."""

from __future__ import annotations

import copy
import json

import httpx
import pytest

from connectors.base import FetchFailure
from connectors.jira import IssueRef, JiraConfig, JiraConnector, issue_to_document
from connectors.tempo import worklog_to_document
from ingest.document import Document
from tests.connectors.test_jira_tempo_mappers import ISSUE, JIRA_URL, MARCH, SETTINGS, WORKLOG


def test_jira_acl_is_the_project_plus_the_security_level() -> None:
    assert issue_to_document(ISSUE, [], JIRA_URL).acl == ["jira:project:ENG"]
    secured = copy.deepcopy(ISSUE)
    secured["fields"]["security"] = {"id": "10001", "name": "Staff only"}
    assert issue_to_document(secured, [], JIRA_URL).acl == ["jira:project:ENG", "jira:security:Staff only"]


@pytest.mark.parametrize(
    ("issue", "acl"),
    [
        (IssueRef("OPS-7", "Disk full", ""), ["jira:project:OPS"]),
        # The worklog shows its issue's summary: an issue under a security level keeps its worklogs under it too.
        (IssueRef("OPS-8", "Layoffs plan", "Staff only"), ["jira:project:OPS", "jira:security:Staff only"]),
        (None, ["tempo:restricted"]),
    ],
)
def test_a_worklog_takes_its_jira_issues_project_and_security_or_fails_closed(
    issue: IssueRef | None, acl: list[str]
) -> None:
    assert worklog_to_document(WORKLOG, issue, JIRA_URL).acl == acl


def test_an_issue_whose_acl_cannot_be_stored_whole_is_a_recorded_failure() -> None:
    huge = copy.deepcopy(ISSUE)
    huge["fields"]["security"] = {"id": "10001", "name": "L" * 3_000}

    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/rest/api/3/search/jql":
            return httpx.Response(
                200, json={"issues": [ISSUE, huge | {"id": "10045", "key": "ENG-45"}], "isLast": True}
            )
        return httpx.Response(404)

    jira = JiraConnector(JiraConfig.from_settings(SETTINGS, rate_per_s=None), transport=httpx.MockTransport(api))
    good, failure = list(jira.fetch(MARCH))
    assert isinstance(good, Document) and good.acl == ["jira:project:ENG"]
    assert isinstance(failure, FetchFailure) and failure.id == "jira:10045" and "never cut" in failure.reason
    json.dumps(failure.model_dump(mode="json"))  # data, kept in the ledger
