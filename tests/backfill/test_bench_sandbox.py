"""``backfill bench sandbox`` measures the scale-1 sandbox it claims to (figures only; no timing assertion)."""

from __future__ import annotations

from backfill.bench_sandbox import bench_sandbox


def test_bench_reports_the_scale_1_workload_and_every_figure() -> None:
    result = bench_sandbox(scale=1.0)
    assert (result["jira_projects"], result["jira_issues"]) == (72, 7556)
    for key in ("start_s", "first_jira_projects_s", "first_jira_search_s", "first_tempo_worklogs_s"):
        assert isinstance(result[key], float) and result[key] >= 0
