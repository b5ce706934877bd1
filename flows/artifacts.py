"""Run reports and progress as Prefect artifacts: what the operator sees on the flow-run page."""

from __future__ import annotations

from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from core.report import PruneSummary, RunSummary

__all__ = ["ProgressArtifact", "publish_prune_report", "publish_run_report"]


def _key(*parts: str) -> str:
    # Artifact keys allow lowercase letters, digits and dashes only.
    return "-".join(p.lower().replace("_", "-") for p in parts if p)


class ProgressArtifact:
    """A progress artifact (0–100) updated as work completes; never moves backwards."""

    def __init__(self, source: str, what: str, total: int | None) -> None:
        self.total = total
        self.done = 0.0
        self.artifact_id: UUID = create_progress_artifact(
            progress=0.0, key=_key(source, what, "progress"), description=f"{source}: {what}"
        )

    def update(self, done: int, total: int | None = None) -> None:
        total = total if total is not None else self.total
        if not total:
            return
        progress = min(100.0, 100.0 * done / total)
        if progress > self.done:
            self.done = progress
            update_progress_artifact(self.artifact_id, progress)

    def complete(self) -> None:
        if self.done < 100.0:
            self.done = 100.0
            update_progress_artifact(self.artifact_id, 100.0)


def publish_run_report(source: str, summary: RunSummary, extra_markdown: str = "") -> None:
    """A table artifact with the run's counts, and a markdown one that says in words what happened."""
    row: dict[str, object] = {**summary.counts(), "status": summary.status}
    create_table_artifact(key=_key(source, "run-report"), table=[row], description=f"{source} run report")
    lines = [f"# {source}: {summary.status}", ""]
    lines += [f"* **{name}**: {value}" for name, value in row.items() if name != "status"]
    if summary.error:
        lines += ["", f"**Error:** {summary.error}"]
    if summary.missing_sample:
        lines += ["", "Missing ids (sample): " + ", ".join(f"`{i}`" for i in summary.missing_sample)]
    if summary.skipped:
        lines += ["", f"**Skipped {len(summary.skipped)} scope(s)** the source would not let us read:"]
        lines += [f"* {line}" for line in summary.skipped]
    if summary.notes:
        lines += ["", *(f"**Note:** {note}" for note in summary.notes)]
    if extra_markdown:
        lines += ["", extra_markdown]
    create_markdown_artifact(key=_key(source, "run-summary"), markdown="\n".join(lines))


def publish_prune_report(summary: PruneSummary) -> None:
    """A markdown artifact saying what a prune deleted, what it did not, and why."""
    row = summary.as_dict()
    lines = [f"# {summary.source} prune: {summary.status}", "", f"**{summary.reason}**", ""]
    lines += [f"* **{k}**: {v}" for k, v in row.items() if k not in {"source", "status", "reason", "stale_sample"}]
    if summary.stale_sample:
        lines += ["", "Stale ids (sample): " + ", ".join(f"`{i}`" for i in summary.stale_sample)]
    create_markdown_artifact(key=_key(summary.source, "prune-report"), markdown="\n".join(lines))
