"""Source state and the lease in an S3 bucket (prefect-aws ``S3Bucket`` against moto): what managed workers use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.lease import Lease, LeaseBusy
from core.state import SourceState
from flows.runtime import BlockStateBackend

KEYS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _backend(endpoint: str, bucket: str, create: bool = True) -> BlockStateBackend:
    import boto3
    from prefect_aws import AwsCredentials, S3Bucket

    if create:
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **KEYS).create_bucket(Bucket=bucket)
    credentials = AwsCredentials(**KEYS, region_name="us-east-1", aws_client_parameters={"endpoint_url": endpoint})
    block: Any = S3Bucket(bucket_name=bucket, bucket_folder="prod", credentials=credentials)
    return BlockStateBackend("s3-bucket/test", block=block)


def test_state_round_trips_and_the_index_lists_sources(endpoint: str) -> None:
    backend = _backend(endpoint, "state-ok")
    assert backend.sources() == [] and backend.load("jira") == SourceState(source="jira")
    backend.save(SourceState(source="jira", watermark_note="moved"))
    backend.save(SourceState(source="tempo"))
    assert backend.sources() == ["jira", "tempo"]
    assert backend.load("jira").watermark_note == "moved"


def test_a_failed_listing_raises_instead_of_rewriting_the_index(endpoint: str) -> None:
    # An unreachable bucket (network, outage): listing the sources must fail, not answer "none" — a save would
    # then rewrite the index with one source and coverage would forget the others.
    unreachable = _backend("http://127.0.0.1:9", "state-down", create=False)
    with pytest.raises(Exception, match=r"Could not connect|Connect"):
        unreachable.sources()


def test_the_lease_lives_in_the_bucket(endpoint: str) -> None:
    backend = _backend(endpoint, "state-lease")
    with Lease(backend.lease_store("jira"), "jira", "worker A", wait_s=0):
        with pytest.raises(LeaseBusy, match="jira is being run by worker A"):
            Lease(backend.lease_store("jira"), "jira", "worker B", wait_s=0).acquire()
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **KEYS)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="state-lease").get("Contents", [])]
        assert keys == ["prod/backfill-state/jira.lease"]
    with Lease(backend.lease_store("jira"), "jira", "worker B", wait_s=0):
        pass
