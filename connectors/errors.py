"""The one error taxonomy of every connector, and the redactor every message passes through.

::

    ConnectorError                  source, endpoint, partition; message already redacted
    ├── TransientError              5xx, timeouts, dropped connections → retried by the HTTP layer
    │   └── RateLimitedError        429 (or a vendor's 403-with-quota-headers) → wait ``retry_after``, retry
    ├── AuthError                   401/403 → fail fast, naming the setting and the URL; never retried
    ├── MalformedResponseError      HTML or invalid JSON where JSON was promised → fatal, with a body excerpt
    │   └── RejectedRequestError    any other 4xx → fatal (our request is wrong; retrying will not help)
    └── PaginationError             a repeated page request, a page cap hit, or pages that contradict themselves
                                    (``isLast: false`` with no token, fewer items than ``total``) → fatal: the
                                    partition fails rather than commit part of a listing
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "AuthError",
    "ConnectorError",
    "MalformedResponseError",
    "PaginationError",
    "RateLimitedError",
    "Redactor",
    "RejectedRequestError",
    "TransientError",
]

# Header-shaped secrets are stripped even when we never saw the token itself (e.g. echoed by a proxy page).
_AUTH_HEADER = re.compile(r"(?i)(authorization|x-api-key|api-key)(\"?\s*[:=]\s*\"?)[^\s\",}]+(\s+[^\s\",}]+)?")
_SCHEME_VALUE = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}")
_MASK = "***"


class Redactor:
    """Removes known secret values and anything that looks like an Authorization header from a text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{_MASK}", text)
        return _SCHEME_VALUE.sub(lambda m: f"{m.group(1)} {_MASK}", text)


class ConnectorError(Exception):
    """Base of every error a connector raises. ``str(error)`` is safe to log: it has been redacted."""

    def __init__(self, message: str, *, source: str = "", endpoint: str = "", partition: str | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.endpoint = endpoint
        self.partition = partition


class TransientError(ConnectorError):
    """The request may succeed if repeated: a 5xx, a timeout, a dropped connection."""

    def __init__(self, message: str, *, retry_after: float | None = None, **where: str | None) -> None:
        super().__init__(message, **where)  # type: ignore[arg-type]
        self.retry_after = retry_after


class RateLimitedError(TransientError):
    """The vendor asked us to slow down; ``retry_after`` is the requested wait in seconds, if given."""


class AuthError(ConnectorError):
    """Credentials were rejected (401) or lack a permission (403). Retrying cannot help: fail fast."""


class MalformedResponseError(ConnectorError):
    """The response is not what the API promises (an HTML page, truncated or invalid JSON, a wrong shape)."""


class RejectedRequestError(MalformedResponseError):
    """A 4xx other than 401/403/429: the request itself is wrong (bad JQL, unknown route, removed API)."""

    def __init__(self, message: str, *, status_code: int = 0, **where: str | None) -> None:
        super().__init__(message, **where)  # type: ignore[arg-type]
        self.status_code = status_code


class PaginationError(ConnectorError):
    """The page loop saw the same request twice, ran past its page cap, or the pages contradict themselves.

    Never caught per record: the whole partition fails, so nothing partial is committed for it.
    """
