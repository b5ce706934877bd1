"""Source connectors: one module per source, one HTTP layer, one error taxonomy. Never imports prefect."""

from connectors.auth import BasicAuth, BearerAuth, HeaderAuth
from connectors.base import Connector, FetchFailure, Partition, Window
from connectors.errors import (
    AuthError,
    ConnectorError,
    MalformedResponseError,
    PaginationError,
    RateLimitedError,
    RejectedRequestError,
    TransientError,
)
from connectors.http import ApiClient, RetryPolicy, make_client

__all__ = [
    "ApiClient",
    "AuthError",
    "BasicAuth",
    "BearerAuth",
    "Connector",
    "ConnectorError",
    "FetchFailure",
    "HeaderAuth",
    "MalformedResponseError",
    "PaginationError",
    "Partition",
    "RateLimitedError",
    "RejectedRequestError",
    "RetryPolicy",
    "TransientError",
    "Window",
    "make_client",
]
