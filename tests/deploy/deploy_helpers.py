"""Constants and small S3 helpers shared by the operations tests and their fixtures."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

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
