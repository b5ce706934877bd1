"""The one HTTP layer: every connector's client comes from ``make_client``.

It owns what connectors must not re-implement: timeouts, a per-API token-bucket rate limiter, retries
(tenacity) on 429/5xx/connection errors honouring ``Retry-After`` and vendor reset headers, the one error
classifier (connectors/errors.py), JSON validation, secret redaction, and the only loop over pages
(``ApiClient.paginate``).

A wait a server states (429, quota 403, 5xx with ``Retry-After``) becomes the API's cool-down, shared by every
client and thread of the process (``connectors/ratelimit.py``): nobody sends to that API before it ends. The
retry policy and each request's wait budget live in ``connectors/retries.py``.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.auth import BasicAuth, BearerAuth, HeaderAuth, SecretAuth
from connectors.errors import (
    AuthError,
    ConnectorError,
    MalformedResponseError,
    PaginationError,
    RateLimitedError,
    Redactor,
    RejectedRequestError,
    TransientError,
)
from connectors.paginators import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextPageTokenPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageRequest,
    Paginator,
    SinglePagePaginator,
)
from connectors.ratelimit import CooldownTooLong, RateLimiter, retry_after_seconds, shared_limiter
from connectors.retries import CallRetry, RetryPolicy
from core.settings import Settings, load_settings

# Auth classes, the limiter, the retry policy and the paginators live in their own modules (file size); they are
# re-exported here because this module is the HTTP layer's front door.
__all__ = [
    "DEFAULT_TIMEOUT",
    "ApiClient",
    "BasicAuth",
    "BearerAuth",
    "CursorPaginator",
    "HeaderAuth",
    "LinkHeaderPaginator",
    "NextPageTokenPaginator",
    "NextUrlPaginator",
    "OffsetPaginator",
    "Page",
    "PageRequest",
    "Paginator",
    "RateLimiter",
    "RetryPolicy",
    "SinglePagePaginator",
    "make_client",
]

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
USER_AGENT = "backfill/0.1 (+https://github.com/backfill)"
DEFAULT_MAX_PAGES = 10_000
_EXCERPT_CHARS = 200


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing with its context (request and raw response, e.g. for rate-limit headers)."""

    request: PageRequest
    data: Any
    response: httpx.Response


def _partition_key(partition: object | None) -> str | None:
    if partition is None:
        return None
    return str(getattr(partition, "key", partition))


_REQUESTS: Counter[str] = Counter()
_REQUESTS_LOCK = threading.Lock()


def request_counts() -> dict[str, int]:
    """Requests sent by every client of this process so far, per ``"<api> <endpoint>"`` (retries included)."""
    with _REQUESTS_LOCK:
        return dict(_REQUESTS)


def requests_since(before: dict[str, int]) -> dict[str, int]:
    """The requests sent since the ``request_counts()`` snapshot ``before``."""
    now = request_counts()
    return {key: n - before.get(key, 0) for key, n in sorted(now.items()) if n - before.get(key, 0)}


class ApiClient:
    """An httpx.Client plus retries, rate limiting, error classification and the page loop, for one API."""

    def __init__(
        self,
        api: str,
        http: httpx.Client,
        *,
        auth: httpx.Auth | None,
        limiter: RateLimiter | None,
        retry: RetryPolicy,
        redactor: Redactor,
        display: str | None = None,
        body_check: BodyCheck | None = None,
    ) -> None:
        self.api = api
        self._body_check = body_check
        self.display = display or api.title()  # how messages name the API: its connector's ``display``
        self._http = http
        self._auth = auth
        self._limiter = limiter
        self._retry = retry
        self.redact = redactor

    @property
    def base_url(self) -> str:
        return str(self._http.base_url).rstrip("/")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one request, retried ------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        endpoint_label: str | None = None,
        partition: object | None = None,
        allow_status: Collection[int] = (),
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request with retries; return a 2xx response (or a status in ``allow_status``)."""
        response, _ = self._call(method, path, endpoint_label, partition, allow_status, None, kwargs)
        return response

    def _call(
        self,
        method: str,
        path: str,
        endpoint_label: str | None,
        partition: object | None,
        allow: Collection[int],
        expect: type | None,
        kwargs: dict[str, Any],
    ) -> tuple[httpx.Response, Any]:
        """The retry wrapper around send (+ parse when ``expect`` is given): the only place that retries."""
        endpoint = endpoint_label or f"{method.upper()} {path.split('?', 1)[0]}"
        where = {"source": self.api, "endpoint": endpoint, "partition": _partition_key(partition)}
        self._check_same_origin(path, where)
        retry = CallRetry(self._retry, self._limiter)
        for attempt in retry.retrying():
            with attempt:
                response = self._send_once(method, path, where, allow, kwargs, retry)
                if expect is None or (response.status_code in allow and not response.is_success):
                    return response, None
                data = self.parse_json(response, expect=expect, endpoint=endpoint, partition=partition)
                if self._body_check is not None:
                    # Inside the attempt: an error the body reports in an HTTP 200 (Slack's ``ok:false``) is
                    # classified like a status, so a transient one is retried and the others fail as their kind.
                    error = self._body_check(data, where)
                    if error is not None:
                        raise error
                return response, data
        raise AssertionError("unreachable: tenacity either returns, raises or calls _give_up")

    def _send_once(
        self,
        method: str,
        path: str,
        where: dict[str, Any],
        allow: Collection[int],
        kwargs: dict[str, Any],
        retry: CallRetry,
    ) -> httpx.Response:
        if self._limiter is not None:
            try:
                retry.spent += self._limiter.acquire(max_wait_s=retry.budget_left())
            except CooldownTooLong as exc:  # another request was told to wait longer than we may: fail now
                msg = f"{self.display} {where['endpoint']}: rate limited, {self.display} is cooling down"
                wait = exc.remaining
                raise RateLimitedError(f"{msg} for another {wait:.0f} s", retry_after=wait, **where) from None
        with _REQUESTS_LOCK:
            _REQUESTS[f"{self.api} {where['endpoint']}"] += 1
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:  # timeouts, refused/dropped connections, truncated transfers
            raise TransientError(
                self.redact(f"{self.display} {where['endpoint']}: {type(exc).__name__}: {exc}"), **where
            ) from None
        if response.is_success or response.status_code in allow:
            return response
        error = self._classify(response, where)
        if isinstance(error, TransientError) and error.retry_after and self._limiter is not None:
            self._limiter.cooldown.hold(error.retry_after)  # every thread waits, not only this request
        raise error

    def _classify(self, response: httpx.Response, where: dict[str, Any]) -> ConnectorError:
        """The one status classifier: 429/5xx → retry; 401/403 → auth; any other 4xx → rejected."""
        status = response.status_code
        label = f"{self.display} {where['endpoint']}"
        part = f" [partition {where['partition']}]" if where["partition"] else ""
        if status == 429 or _is_quota_403(response):
            wait = retry_after_seconds(response.headers, use_reset=True)
            return RateLimitedError(f"{label}: rate limited (HTTP {status}){part}", retry_after=wait, **where)
        if status >= 500:
            wait = retry_after_seconds(response.headers, use_reset=False)
            msg = f"{label}: server error HTTP {status}{part}: {self._excerpt(response)}"
            return TransientError(self.redact(msg), retry_after=wait, **where)
        if status in (401, 403):
            setting = getattr(self._auth, "setting", None) or "its credentials"
            why = "rejected" if status == 401 else "refused (missing permission or wrong host/region) with"
            msg = f"{self.display} {why} {setting} for {self.base_url} (HTTP {status} on {where['endpoint']}){part}"
            return AuthError(self.redact(msg), **where)
        msg = f"{label}: HTTP {status}{part}: {self._excerpt(response)}"
        return RejectedRequestError(self.redact(msg), status_code=status, **where)

    def _check_same_origin(self, path: str, where: dict[str, Any]) -> None:
        # A next link to another host would carry our credentials there: refuse rather than leak a token.
        if not re.match(r"(?i)^https?://", path):
            return
        target, base = httpx.URL(path), httpx.URL(self.base_url)
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            part = f" [partition {where['partition']}]" if where["partition"] else ""
            msg = f"{self.display} {where['endpoint']}: next link points to another origin {target.host!r}{part}"
            raise MalformedResponseError(self.redact(msg), **where)

    # -- JSON ------------------------------------------------------------

    def get_json(
        self,
        method: str,
        path: str,
        *,
        expect: type = dict,
        endpoint_label: str | None = None,
        partition: object | None = None,
        **kwargs: Any,
    ) -> Any:
        """Send a request and return its body, checked to be JSON whose top level is an ``expect``."""
        _, data = self._call(method, path, endpoint_label, partition, (), expect, kwargs)
        return data

    def parse_json(
        self, response: httpx.Response, *, expect: type, endpoint: str, partition: object | None = None
    ) -> Any:
        where = {"source": self.api, "endpoint": endpoint, "partition": _partition_key(partition)}
        label = f"{self.display} {endpoint} (HTTP {response.status_code})"
        part = f" [partition {where['partition']}]" if where["partition"] else ""
        ctype = response.headers.get("content-type", "")
        text = response.text
        if "html" in ctype or text.lstrip()[:1] == "<":
            msg = f"{label}: an HTML page instead of JSON{part}: {self._excerpt(response)}"
            raise MalformedResponseError(self.redact(msg), **where)
        try:
            data = json.loads(text)
        except ValueError as exc:
            msg = f"{label}: invalid or truncated JSON ({exc.msg} at char {exc.pos} of {len(text)}){part}: "
            raise MalformedResponseError(self.redact(msg + self._excerpt(response)), **where) from None
        except RecursionError:
            msg = f"{label}: JSON nested too deeply to read ({len(text)} chars){part}: "
            raise MalformedResponseError(self.redact(msg + self._excerpt(response)), **where) from None
        if not isinstance(data, expect):
            msg = f"{label}: expected a JSON {expect.__name__}, got {type(data).__name__}{part}"
            raise MalformedResponseError(self.redact(f"{msg}: {self._excerpt(response)}"), **where)
        return data

    def _excerpt(self, response: httpx.Response) -> str:
        try:
            text = " ".join(response.text.split())
        except (httpx.ResponseNotRead, UnicodeDecodeError):
            return "<unreadable body>"
        cut = text[:_EXCERPT_CHARS] + ("…" if len(text) > _EXCERPT_CHARS else "")
        return f"body: {self.redact(cut)}"

    # -- the only page loop ------------------------------------------------------------

    def paginate(
        self,
        paginator: Paginator,
        *,
        endpoint_label: str,
        partition: object | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        expect: type = dict,
        empty_on: Collection[int] = (),
    ) -> Iterator[Page]:
        """Yield pages until the paginator says stop.

        Raises PaginationError when a request repeats (a token, cursor, offset or URL the API did not advance:
        the predecessor's "24,685 fetched, 51 unique") or when ``max_pages`` would be exceeded. A status in
        ``empty_on`` (e.g. Jira project search's 404 for "no match") ends the listing with no pages.
        """
        where = {"source": self.api, "endpoint": endpoint_label, "partition": _partition_key(partition)}
        part = f" [partition {where['partition']}]" if where["partition"] else ""
        seen: set[PageRequest] = set()
        request: PageRequest | None = paginator.first_request()
        while request is not None:
            if request in seen:
                msg = f"{self.display} {endpoint_label}: page request repeated after {len(seen)} pages{part}"
                raise PaginationError(self.redact(f"{msg}: {request.describe()[:300]}"), **where)
            if len(seen) >= max_pages:
                msg = f"{self.display} {endpoint_label}: page cap of {max_pages} reached without a last page{part}"
                raise PaginationError(msg, **where)
            seen.add(request)
            kwargs = {"params": list(request.params) or None, "json": request.body()}
            response, data = self._call(
                request.method, request.path, endpoint_label, partition, empty_on, expect, kwargs
            )
            if response.status_code in empty_on and not response.is_success:
                return
            yield Page(request, data, response)
            request = paginator.next_request(data, response)


# An API that reports errors inside a 2xx body (Slack: ``{"ok": false, "error": "invalid_auth"}``) gives its
# client a check: (parsed body, where = source/endpoint/partition) → the taxonomy's error, or None when the body is
# fine. Raised inside the retry loop, so a TransientError from it is retried like a 5xx.
BodyCheck = Callable[[Any, dict[str, Any]], ConnectorError | None]


def _is_quota_403(response: httpx.Response) -> bool:
    # GitHub signals an exhausted (primary or secondary) rate limit with 403, not 429.
    headers = response.headers
    return response.status_code == 403 and (headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers)


def make_client(
    api: str,
    base_url: str,
    auth: httpx.Auth | None,
    *,
    headers: Mapping[str, str] | None = None,
    rate_per_s: float | None = None,
    timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
    retry: RetryPolicy | None = None,
    extra_secrets: Collection[str] = (),
    settings: Settings | None = None,
    limiter: RateLimiter | None = None,
    display: str | None = None,
    body_check: BodyCheck | None = None,
) -> ApiClient:
    """Build the client for one API: base URL, pinned headers, explicit timeouts, user agent, auth, limiter.

    ``transport`` is the test seam (``httpx.MockTransport`` for unit tests; a recording wrapper around
    ``httpx.HTTPTransport`` against the sandbox). ``rate_per_s`` sizes a token bucket shared by every
    client of the same ``api`` in this process; every client of ``api`` shares its cool-down whatever the
    rate. ``limiter`` replaces that shared limiter (a test seam: one with a fake clock; Slack: one per method tier).
    ``body_check`` classifies errors an API reports in a 2xx body (``BodyCheck``).

    Without ``retry``, the policy comes from ``BACKFILL_HTTP_MAX_ATTEMPTS`` / ``BACKFILL_HTTP_MAX_WAIT_S``:
    of ``settings`` when given, else read from the environment (``load_settings``).
    """
    http = httpx.Client(
        base_url=base_url.rstrip("/") + "/",
        auth=auth,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
        timeout=timeout,
        transport=transport,
        follow_redirects=False,  # a redirect to a login page must surface as an error, not parse as data
    )
    # Our auth classes name their secrets for the redactor; any other httpx.Auth relies on ``extra_secrets``.
    secrets = [*(auth.secret_values() if isinstance(auth, SecretAuth) else ()), *extra_secrets]
    limiter = limiter or shared_limiter(api, rate_per_s)
    retry = retry or RetryPolicy.from_settings(settings or load_settings())
    return ApiClient(
        api, http, auth=auth, limiter=limiter, retry=retry, redactor=Redactor(secrets), display=display,
        body_check=body_check,
    )  # fmt: skip
