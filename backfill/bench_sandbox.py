"""``backfill bench sandbox``: how fast the sandbox starts and serves its first pages at a given scale."""

from __future__ import annotations

import time
from typing import Any

import httpx

__all__ = ["bench_sandbox", "print_sandbox_bench"]


def bench_sandbox(scale: float = 1.0, seed: int = 42) -> dict[str, Any]:
    """Seconds to start the sandbox, then to answer the first Jira, Tempo, Slack, Notion and GitHub pages."""
    from sandbox.server import start_sandbox

    started = time.perf_counter()
    with start_sandbox(seed=seed, scale=scale, profile="none") as sb:
        result: dict[str, Any] = {"scale": scale, "seed": seed, "start_s": round(time.perf_counter() - started, 3)}
        env = sb.env
        jira_auth = (env["JIRA_EMAIL"], env["JIRA_API_TOKEN"])
        probes = {
            "jira_projects": ("GET", f"{env['JIRA_URL']}/rest/api/3/project/search", {"auth": jira_auth}),
            "jira_search": (
                "POST",
                f"{env['JIRA_URL']}/rest/api/3/search/jql",
                {"auth": jira_auth, "json": {"jql": "updated >= 0 ORDER BY updated ASC", "fields": ["summary"]}},
            ),
            "tempo_worklogs": (
                "GET",
                f"{env['TEMPO_API_URL']}/4/worklogs",
                {"headers": {"Authorization": f"Bearer {env['TEMPO_API_TOKEN']}"}},
            ),
        }
        stats = sb.control("jira/stats", {})
        result["jira_projects"], result["jira_issues"] = stats["projects"], stats["issues"]
        with httpx.Client(timeout=60) as client:
            for name, (method, url, kwargs) in probes.items():
                t0 = time.perf_counter()
                client.request(method, url, **kwargs).raise_for_status()
                result[f"first_{name}_s"] = round(time.perf_counter() - t0, 3)
    return result


def print_sandbox_bench(result: dict[str, Any]) -> None:
    for key, value in result.items():
        print(f"{key:<28} {value}")
