"""Constants shared by the operations tests and their fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PREFECT_BIN = Path(sys.executable).with_name("prefect")
WORK_POOL = "backfill-test-pool"
FAKE_TOKENS = {
    "jira_api_token": "jira-token-not-real",
    "tempo_api_token": "tempo-token-not-real",
    "openai_api_key": "sk-not-real",
    "pinecone_api_key": "pc-not-real",
}
