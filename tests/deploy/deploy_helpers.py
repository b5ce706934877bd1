"""Constants and small S3 helpers shared by the operations tests and their fixtures."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from connectors.registry import SOURCES
from core.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
PREFECT_BIN = Path(sys.executable).with_name("prefect")
WORK_POOL = "backfill-test-pool"
FAKE_TOKENS = {
    "jira_api_token": "jira-token-not-real",
    "tempo_api_token": "tempo-token-not-real",
    "openai_api_key": "sk-not-real",
    "pinecone_api_key": "pc-not-real",
}
# moto accepts any keys; these never leave loopback.
MOTO_KEYS = {"aws_access_key_id": "moto-test", "aws_secret_access_key": "moto-test"}

# What `prefect deploy` stores in each deployment's job-variable env (prefect.yaml):
# - tokens never (flows load them from Secret blocks at run time): every SecretStr setting;
TOKEN_VARS = sorted(
    name.upper()
    for name, info in Settings.model_fields.items()
    if SecretStr in typing.get_args(info.annotation) or info.annotation is SecretStr
)
# - these are fixed (a managed run installs only Pinecone's and OpenAI's clients), overridable per deployment;
FIXED_ENV = {"BACKFILL_STORE": "pinecone", "BACKFILL_EMBEDDER": "openai", "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false"}
# - every other setting is taken from the deploy-time environment, else prefect.yaml's default (mostly none).
TEMPLATED_VARS = sorted(
    {name.upper() for name in Settings.model_fields} - set(TOKEN_VARS) - set(FIXED_ENV)
    | {f"BACKFILL_FRESHNESS_{source.upper()}_HOURS" for source in SOURCES}
    | {"BACKFILL_SOURCES"}
)
# prefect.yaml's defaults that are not the flow's own (null = unset in the run, the flow's default applies).
DEPLOY_DEFAULTS = {"BACKFILL_HOME": "/tmp/backfill", "BACKFILL_RESULTS_BLOCK": "s3-bucket/backfill-results"}


def pool_deployments(client: Any) -> list[Any]:
    """The deployments on the test pool: prefect.yaml's (other tests make pool-less deployments of their own)."""
    from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName

    return list(client.read_deployments(work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[WORK_POOL]))))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def deploy_all(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``prefect --no-prompt deploy --all`` of prefect.yaml from the repository root with ``env``; asserts rc 0."""
    result = subprocess.run(
        [str(PREFECT_BIN), "--no-prompt", "deploy", "--all", "--prefect-file", str(REPO_ROOT / "prefect.yaml")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, f"prefect deploy failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def save_s3_results_block(endpoint_url: str, bucket: str, folder: str, name: str) -> str:
    """Create ``bucket`` on the S3 endpoint and save a prefect-aws ``S3Bucket`` block on it; returns its slug.

    The credentials are the moto placeholders, saved with the block (nested) exactly as ``backfill alerts setup``
    does in production, so a flow run on any worker can load the block by its slug.
    """
    import boto3
    from prefect_aws import AwsCredentials, S3Bucket

    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1", **MOTO_KEYS)
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=bucket)
    credentials = AwsCredentials(
        **MOTO_KEYS, region_name="us-east-1", aws_client_parameters={"endpoint_url": endpoint_url}
    )
    S3Bucket(bucket_name=bucket, bucket_folder=folder, credentials=credentials).save(name, overwrite=True)
    return f"s3-bucket/{name}"


def s3_keys(endpoint_url: str, bucket: str, prefix: str) -> list[str]:
    """Every object key under ``prefix`` in the bucket."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1", **MOTO_KEYS)
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def read_s3_json(endpoint_url: str, bucket: str, key: str) -> dict[str, Any]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1", **MOTO_KEYS)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
