"""Each source's own run options reach the CLI with their type: a number is a number, a list repeats, a flag is a flag.

Nothing here runs a flow: typer refuses a bad value before the command body, and ``--help`` shows the types.
"""

from __future__ import annotations

from typer.testing import CliRunner

from backfill.cli import app
from connectors.registry import source_spec

runner = CliRunner()


def test_the_thread_lookback_is_an_integer_option_with_its_default() -> None:
    [lookback] = [o for o in source_spec("slack").filters if o.param == "thread_lookback_days"]
    assert lookback.value(None) == 30 and lookback.value(90) == 90
    shown = runner.invoke(app, ["run", "slack", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    line = next(row for row in shown.output.splitlines() if "--thread-lookback-days" in row)
    assert "int" in line.lower() and "bool" not in line, line


def test_a_lookback_that_is_not_a_number_is_refused_before_anything_runs() -> None:
    refused = runner.invoke(app, ["run", "slack", "--thread-lookback-days", "ninety"], env={"COLUMNS": "200"})
    assert refused.exit_code == 2
    assert "--thread-lookback-days" in refused.output and "valid integer" in refused.output
    negative = runner.invoke(app, ["run", "slack", "--thread-lookback-days", "-1"], env={"COLUMNS": "200"})
    assert negative.exit_code == 2
