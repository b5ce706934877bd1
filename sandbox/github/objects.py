"""Serialise the GitHub corpus into REST v3 JSON (``issue``, ``pull-request-simple``, ``issue-comment``,
``commit``, ``minimal-repository``/``repository`` of ``specs/github/api.github.com.trimmed.json``)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sandbox.github.corpus import ORG, Comment, Commit, Issue, Repo, sha1

__all__ = ["API", "WEB", "comment_json", "commit_json", "issue_json", "pull_json", "repo_json", "user_json"]

API = "https://api.github.com"
WEB = "https://github.com"
_LABEL_COLORS = {
    "bug": "d73a4a",
    "enhancement": "a2eeef",
    "documentation": "0075ca",
    "security": "b60205",
    "performance": "fbca04",
    "tech-debt": "cfd3d7",
}


def iso(when: datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def _node(kind: str, number: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode().rstrip("=")


def user_json(login: str) -> dict[str, Any]:
    uid = int(sha1("user", login)[:7], 16)
    url = f"{API}/users/{login}"
    return {
        "login": login,
        "id": uid,
        "node_id": _node("User", uid),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "gravatar_id": "",
        "url": url,
        "html_url": f"{WEB}/{login}",
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": "User",
        "user_view_type": "public",
        "site_admin": False,
    }


def _org_owner() -> dict[str, Any]:
    owner = user_json(ORG)
    owner["type"] = "Organization"
    return owner


def repo_json(repo: Repo, full: bool, open_issues: int) -> dict[str, Any]:
    name = f"{ORG}/{repo.name}"
    url = f"{API}/repos/{name}"
    body: dict[str, Any] = {
        "id": repo.id,
        "node_id": _node("Repository", repo.id),
        "name": repo.name,
        "full_name": name,
        "owner": _org_owner(),
        "private": repo.private,
        "html_url": f"{WEB}/{name}",
        "description": repo.description,
        "fork": False,
        "url": url,
    }
    for key, suffix in (
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        ("notifications_url", "/notifications{?since,all,participating}"),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ):
        body[key] = url + suffix
    body.update(
        {
            "git_url": f"git://github.com/{name}.git",
            "ssh_url": f"git@github.com:{name}.git",
            "clone_url": f"{WEB}/{name}.git",
            "svn_url": f"{WEB}/{name}",
            "mirror_url": None,
            "homepage": None,
            "language": "Python",
            "forks_count": 0,
            "stargazers_count": 3,
            "watchers_count": 3,
            "size": 1024,
            "default_branch": "main",
            "open_issues_count": open_issues,
            "is_template": False,
            "topics": [],
            "has_issues": True,
            "has_projects": False,
            "has_wiki": False,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "archived": repo.archived,
            "disabled": False,
            "visibility": "private" if repo.private else "public",
            "pushed_at": iso(repo.pushed),
            "created_at": iso(repo.created),
            "updated_at": iso(repo.pushed),
            "permissions": {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True},
            "forks": 0,
            "open_issues": open_issues,
            "watchers": 3,
            "license": None,
        }
    )
    if full:
        body.update({"allow_forking": True, "web_commit_signoff_required": False})
    return body


def _label(name: str) -> dict[str, Any]:
    lid = int(sha1("label", name)[:8], 16)
    return {
        "id": lid,
        "node_id": _node("Label", lid),
        "url": f"{API}/repos/{ORG}/labels/{name}",
        "name": name,
        "description": f"Label {name}",
        "color": _LABEL_COLORS.get(name, "ededed"),
        "default": name in ("bug", "enhancement"),
    }


def issue_json(repo: Repo, issue: Issue) -> dict[str, Any]:
    repo_url = f"{API}/repos/{ORG}/{repo.name}"
    url = f"{repo_url}/issues/{issue.number}"
    body: dict[str, Any] = {
        "id": issue.id,
        "node_id": _node("Issue", issue.id),
        "url": url,
        "repository_url": repo_url,
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": f"{WEB}/{ORG}/{repo.name}/{'pull' if issue.is_pr else 'issues'}/{issue.number}",
        "number": issue.number,
        "title": issue.title,
        "user": user_json(issue.user),
        "labels": [_label(n) for n in issue.labels],
        "state": "closed" if issue.closed else "open",
        "locked": False,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": issue.comments,
        "created_at": iso(issue.created),
        "updated_at": iso(issue.updated),
        "closed_at": iso(issue.closed),
        "author_association": "MEMBER",
        "active_lock_reason": None,
        "body": issue.body,
        "timeline_url": f"{url}/timeline",
        "performed_via_github_app": None,
        "state_reason": ("completed" if issue.closed else None) if not issue.is_pr else None,
    }
    if issue.is_pr:
        # What tells an issue from a PR in /issues: PRs carry a ``pull_request`` key.
        pulls = f"{repo_url}/pulls/{issue.number}"
        body["draft"] = issue.draft
        body["pull_request"] = {
            "url": pulls,
            "html_url": f"{WEB}/{ORG}/{repo.name}/pull/{issue.number}",
            "diff_url": f"{WEB}/{ORG}/{repo.name}/pull/{issue.number}.diff",
            "patch_url": f"{WEB}/{ORG}/{repo.name}/pull/{issue.number}.patch",
            "merged_at": iso(issue.merged),
        }
    return body


def pull_json(repo: Repo, issue: Issue, repo_object: dict[str, Any]) -> dict[str, Any]:
    repo_url = f"{API}/repos/{ORG}/{repo.name}"
    url = f"{repo_url}/pulls/{issue.number}"
    html = f"{WEB}/{ORG}/{repo.name}/pull/{issue.number}"
    head_sha = sha1(repo.name, "head", issue.number)
    issue_url = f"{repo_url}/issues/{issue.number}"
    ref = {
        "label": f"{ORG}:topic-{issue.number}",
        "ref": f"topic-{issue.number}",
        "sha": head_sha,
        "user": _org_owner(),
        "repo": repo_object,
    }
    base = {
        "label": f"{ORG}:main",
        "ref": "main",
        "sha": sha1(repo.name, "base", issue.number),
        "user": _org_owner(),
        "repo": repo_object,
    }
    return {
        "url": url,
        "id": issue.pr_id,
        "node_id": _node("PullRequest", issue.pr_id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue_url,
        "commits_url": f"{url}/commits",
        "review_comments_url": f"{url}/comments",
        "review_comment_url": f"{repo_url}/pulls/comments{{/number}}",
        "comments_url": f"{issue_url}/comments",
        "statuses_url": f"{repo_url}/statuses/{head_sha}",
        "number": issue.number,
        "state": "closed" if issue.closed else "open",
        "locked": False,
        "title": issue.title,
        "user": user_json(issue.user),
        "body": issue.body,
        "labels": [_label(n) for n in issue.labels],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": iso(issue.created),
        "updated_at": iso(issue.updated),
        "closed_at": iso(issue.closed),
        "merged_at": iso(issue.merged),
        "merge_commit_sha": sha1(repo.name, "merge", issue.number) if issue.merged else None,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": ref,
        "base": base,
        "_links": {
            k: {"href": v}
            for k, v in (
                ("self", url),
                ("html", html),
                ("issue", issue_url),
                ("comments", f"{issue_url}/comments"),
                ("review_comments", f"{url}/comments"),
                ("review_comment", f"{repo_url}/pulls/comments{{/number}}"),
                ("commits", f"{url}/commits"),
                ("statuses", f"{repo_url}/statuses/{head_sha}"),
            )
        },
        "author_association": "MEMBER",
        "auto_merge": None,
        "draft": issue.draft,
    }


def comment_json(repo: Repo, comment: Comment) -> dict[str, Any]:
    repo_url = f"{API}/repos/{ORG}/{repo.name}"
    return {
        "id": comment.id,
        "node_id": _node("IssueComment", comment.id),
        "url": f"{repo_url}/issues/comments/{comment.id}",
        "html_url": f"{WEB}/{ORG}/{repo.name}/issues/{comment.issue_number}#issuecomment-{comment.id}",
        "body": comment.body,
        "user": user_json(comment.user),
        "created_at": iso(comment.created),
        "updated_at": iso(comment.updated),
        "issue_url": f"{repo_url}/issues/{comment.issue_number}",
        "author_association": "MEMBER",
        "performed_via_github_app": None,
    }


def commit_json(repo: Repo, commit: Commit) -> dict[str, Any]:
    repo_url = f"{API}/repos/{ORG}/{repo.name}"
    email = f"{commit.author}@users.noreply.github.com"
    return {
        "url": f"{repo_url}/commits/{commit.sha}",
        "sha": commit.sha,
        "node_id": _node("Commit", int(commit.sha[:8], 16)),
        "html_url": f"{WEB}/{ORG}/{repo.name}/commit/{commit.sha}",
        "comments_url": f"{repo_url}/commits/{commit.sha}/comments",
        "commit": {
            "url": f"{repo_url}/git/commits/{commit.sha}",
            "author": {"name": commit.author, "email": email, "date": iso(commit.authored)},
            "committer": {"name": "GitHub", "email": "noreply@github.com", "date": iso(commit.committed)},
            "message": commit.message,
            "comment_count": 0,
            "tree": {
                "sha": sha1(commit.sha, "tree"),
                "url": f"{repo_url}/git/trees/{sha1(commit.sha, 'tree')}",
            },
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
        "author": user_json(commit.author),
        "committer": user_json("web-flow"),
        "parents": [
            {
                "sha": commit.parent,
                "url": f"{repo_url}/commits/{commit.parent}",
                "html_url": f"{WEB}/{ORG}/{repo.name}/commit/{commit.parent}",
            }
        ]
        if commit.parent
        else [],
    }
