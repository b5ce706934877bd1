"""The HTTP layer on hand-built responses (httpx.MockTransport is the one allowed seam).

Every client here gets its own limiter on a fake clock (``make_client(limiter=)``) that the retry policy's
``sleep`` advances: waits are recorded, never slept, and no cool-down leaks to the process-wide "jira" limiter.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import SecretStr

from connectors.auth import BasicAuth, BearerAuth
from connectors.errors import (
    AuthError,
    MalformedResponseError,
    RateLimitedError,
    Redactor,
    RejectedRequestError,
    TransientError,
)
from connectors.http import ApiClient, RetryPolicy, make_client
from connectors.ratelimit import RateLimiter, retry_after_seconds
from core.settings import Settings, load_settings
from tests.connectors.fake_clock import FakeClock

TOKEN = "s3cr3t-token-value-123"
BASE = "https://acme.atlassian.net"


class Script:
    """A MockTransport handler that answers from a list of responses (or exceptions) and records requests."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def jira_client(script: Script, waits: list[float] | None = None, **policy: float) -> ApiClient:
    clock = FakeClock(waits)
    retry = RetryPolicy(sleep=clock.sleep, **policy)  # type: ignore[arg-type]
    auth = BasicAuth("me@acme.com", SecretStr(TOKEN), setting="JIRA_API_TOKEN")
    limiter = RateLimiter(None, clock=clock.now, sleep=clock.sleep)
    return make_client("jira", BASE, auth, transport=httpx.MockTransport(script), retry=retry, limiter=limiter)


def test_basic_auth_header_is_sent() -> None:
    script = Script(httpx.Response(200, json={}))
    jira_client(script).get_json("GET", "/rest/api/3/myself")
    expected = base64.b64encode(f"me@acme.com:{TOKEN}".encode()).decode()
    assert script.requests[0].headers["Authorization"] == f"Basic {expected}"
    assert script.requests[0].headers["User-Agent"].startswith("backfill/")


def test_bearer_auth_and_base_path_are_kept() -> None:
    script = Script(httpx.Response(200, json={"results": []}))
    auth = BearerAuth(SecretStr(TOKEN), setting="TEMPO_API_TOKEN")
    client = make_client("tempo", "http://127.0.0.1:9/tempo", auth, transport=httpx.MockTransport(script))
    client.get_json("GET", "/4/worklogs", params={"limit": 5})
    assert script.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert str(script.requests[0].url) == "http://127.0.0.1:9/tempo/4/worklogs?limit=5"
    assert TOKEN not in repr(auth)


def test_503_is_retried_honouring_retry_after_seconds() -> None:
    script = Script(httpx.Response(503, headers={"Retry-After": "2"}), httpx.Response(200, json={"ok": 1}))
    waits: list[float] = []
    assert jira_client(script, waits).get_json("GET", "/x") == {"ok": 1}
    assert waits == [2.0]
    assert len(script.requests) == 2


def test_429_retry_after_http_date_is_honoured() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    limited = httpx.Response(429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    waits: list[float] = []
    jira_client(Script(limited, httpx.Response(200, json={})), waits).get_json("GET", "/x")
    assert 25 < waits[0] <= 30


def test_429_uses_the_longest_of_retry_after_and_vendor_reset() -> None:
    reset_epoch = int((datetime.now(UTC) + timedelta(seconds=40)).timestamp())
    limited = httpx.Response(429, headers={"Retry-After": "1", "X-RateLimit-Reset": str(reset_epoch)})
    waits: list[float] = []
    jira_client(Script(limited, httpx.Response(200, json={})), waits).get_json("GET", "/x")
    assert 35 < waits[0] <= 40


def test_reset_header_formats() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds({"x-ratelimit-reset": "2026-01-01T12:05Z"}, use_reset=True, now=now) == 300
    epoch = str(int(now.timestamp()) + 60)
    assert retry_after_seconds({"x-ratelimit-reset": epoch}, use_reset=True, now=now) == 60
    assert retry_after_seconds({"x-ratelimit-reset": epoch}, use_reset=False, now=now) is None
    assert retry_after_seconds({"beta-retry-after": "7", "retry-after": "3"}, use_reset=False, now=now) == 7
    assert retry_after_seconds({}, use_reset=True, now=now) is None


def test_github_style_403_with_exhausted_quota_is_a_rate_limit_not_an_auth_error() -> None:
    limited = httpx.Response(403, headers={"x-ratelimit-remaining": "0", "retry-after": "3"})
    waits: list[float] = []
    jira_client(Script(limited, httpx.Response(200, json={})), waits).get_json("GET", "/x")
    assert waits == [3.0]


def test_connection_errors_and_timeouts_are_retried_with_backoff() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(200, json={"fine": True}))
    waits: list[float] = []
    assert jira_client(script, waits).get_json("GET", "/x") == {"fine": True}
    assert len(waits) == 2 and all(0 <= w <= 30 for w in waits)


def test_retries_are_capped_by_attempts() -> None:
    script = Script(httpx.Response(502, text="bad gateway"))
    with pytest.raises(TransientError, match=r"gave up after 4 attempts") as caught:
        jira_client(script, max_attempts=4).get_json("GET", "/x")
    assert len(script.requests) == 4
    assert not isinstance(caught.value, RateLimitedError)


def test_a_retry_after_beyond_the_wait_budget_fails_now() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "3600"}))
    waits: list[float] = []
    with pytest.raises(RateLimitedError, match="rate limited"):
        jira_client(script, waits, max_total_wait_s=60).get_json("GET", "/x")
    assert waits == [] and len(script.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_fail_fast_naming_the_setting_and_url(status: int) -> None:
    script = Script(httpx.Response(status, text=f"<html>denied for Basic {TOKEN}</html>"))
    with pytest.raises(AuthError) as caught:
        jira_client(script).get_json("GET", "/rest/api/3/myself")
    message = str(caught.value)
    assert "JIRA_API_TOKEN" in message and BASE in message
    if status == 401:
        assert message.startswith(f"Jira rejected JIRA_API_TOKEN for {BASE}")
    assert TOKEN not in message
    assert len(script.requests) == 1


def test_html_page_with_200_is_malformed_with_context() -> None:
    page = "<!DOCTYPE html><html><body>Atlassian is down for maintenance</body></html>"
    script = Script(httpx.Response(200, text=page, headers={"content-type": "text/html"}))
    with pytest.raises(MalformedResponseError) as caught:
        jira_client(script).get_json(
            "POST", "/rest/api/3/search/jql", endpoint_label="search/jql", partition="jira:ENG:2025-03"
        )
    message = str(caught.value)
    assert "HTML page" in message and "search/jql" in message and "jira:ENG:2025-03" in message
    assert "maintenance" in message
    assert caught.value.partition == "jira:ENG:2025-03" and caught.value.source == "jira"
    assert "gave up after 3 attempts" in message and len(script.requests) == 3  # bounded, then fatal


def test_one_html_blip_is_retried_and_then_parsed() -> None:
    blip = httpx.Response(200, text="<html>gateway</html>", headers={"content-type": "text/html"})
    script = Script(blip, httpx.Response(200, json={"issues": []}))
    assert jira_client(script).get_json("GET", "/x") == {"issues": []}
    assert len(script.requests) == 2


def test_truncated_json_with_200_is_malformed() -> None:
    script = Script(httpx.Response(200, text='{"issues": [{"id": "10042", "key": "ENG-4'))
    with pytest.raises(MalformedResponseError, match="invalid or truncated JSON"):
        jira_client(script).get_json("GET", "/x")


def test_wrong_top_level_type_is_malformed() -> None:
    with pytest.raises(MalformedResponseError, match="expected a JSON dict, got list"):
        jira_client(Script(httpx.Response(200, json=[1, 2]))).get_json("GET", "/x")
    assert jira_client(Script(httpx.Response(200, json=[1]))).get_json("GET", "/x", expect=list) == [1]


def test_other_4xx_is_rejected_with_redacted_excerpt_and_not_retried() -> None:
    body = {"errorMessages": [f"Field 'updated' is invalid; Authorization: Basic {TOKEN}"]}
    script = Script(httpx.Response(400, json=body))
    with pytest.raises(RejectedRequestError) as caught:
        jira_client(script).get_json("GET", "/rest/api/3/search/jql")
    assert caught.value.status_code == 400
    assert "Field 'updated' is invalid" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert len(script.requests) == 1


def test_allowed_status_is_returned_to_the_caller() -> None:
    client = jira_client(Script(httpx.Response(404, json={"errorMessages": ["none"]})))
    assert client.request("GET", "/rest/api/3/project/search", allow_status={404}).status_code == 404


def test_redactor_strips_known_secrets_and_auth_headers() -> None:
    redact = Redactor([TOKEN])
    text = f"token={TOKEN} Authorization: Bearer abcdefghijkl123 and 'authorization': 'Basic Zm9vOmJhcg=='"
    cleaned = redact(text)
    assert TOKEN not in cleaned and "abcdefghijkl123" not in cleaned and "Zm9vOmJhcg==" not in cleaned


def test_rate_limiter_spaces_requests_after_the_burst() -> None:
    now = [0.0]
    slept: list[float] = []
    limiter = RateLimiter(2.0, burst=1, clock=lambda: now[0], sleep=slept.append)
    waits = [limiter.acquire() for _ in range(3)]
    assert waits == [0.0, 0.5, 1.0]
    assert slept == [0.5, 1.0]


# -- the wait budget: BACKFILL_HTTP_MAX_WAIT_S / BACKFILL_HTTP_MAX_ATTEMPTS ---------------------------------------


def _configured_client(script: Script, clock: FakeClock) -> ApiClient:
    """A client whose policy comes from the environment's settings, with the fake clock as its sleep seam."""
    retry = RetryPolicy.from_settings(load_settings(), sleep=clock.sleep)
    limiter = RateLimiter(None, clock=clock.now, sleep=clock.sleep)
    return make_client("jira", BASE, None, transport=httpx.MockTransport(script), retry=retry, limiter=limiter)


def test_retry_after_120_twice_then_200_succeeds_within_the_default_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BACKFILL_HTTP_MAX_WAIT_S", raising=False)
    monkeypatch.delenv("BACKFILL_HTTP_MAX_ATTEMPTS", raising=False)
    limited = httpx.Response(429, headers={"Retry-After": "120"})
    script = Script(limited, limited, httpx.Response(200, json={"ok": True}))
    clock = FakeClock()

    assert _configured_client(script, clock).get_json("GET", "/x") == {"ok": True}

    assert clock.slept == [120.0, 120.0]  # each Retry-After honoured in full, nothing more slept
    assert len(script.requests) == 3
    assert RetryPolicy().max_total_wait_s == load_settings().backfill_http_max_wait_s == 600.0


def test_the_wait_budget_setting_decides_when_to_give_up_and_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKFILL_HTTP_MAX_WAIT_S", "200")
    limited = httpx.Response(429, headers={"Retry-After": "120"})
    script = Script(limited, limited, httpx.Response(200, json={}))
    clock = FakeClock()

    with pytest.raises(RateLimitedError) as caught:
        _configured_client(script, clock).get_json("GET", "/x")

    assert clock.slept == [120.0]  # the second 120 s would pass 200 s: fail now rather than retry early
    assert len(script.requests) == 2
    message = str(caught.value)
    assert "200 s wait budget" in message and "BACKFILL_HTTP_MAX_WAIT_S" in message
    assert "waiting 120 s more" in message


def test_make_client_without_a_policy_reads_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKFILL_HTTP_MAX_ATTEMPTS", "3")
    script = Script(httpx.Response(503, headers={"Retry-After": "0"}))  # a stated wait of 0: no real sleeping
    client = make_client("jira", BASE, None, transport=httpx.MockTransport(script), limiter=RateLimiter(None))
    with pytest.raises(TransientError, match=r"gave up after 3 attempts, the limit \(BACKFILL_HTTP_MAX_ATTEMPTS\)"):
        client.get_json("GET", "/x")
    assert len(script.requests) == 3

    monkeypatch.setenv("BACKFILL_HTTP_MAX_WAIT_S", "60")
    limited = Script(httpx.Response(429, headers={"Retry-After": "61"}))
    client = make_client("jira", BASE, None, transport=httpx.MockTransport(limited), limiter=RateLimiter(None))
    with pytest.raises(RateLimitedError, match=r"60 s wait budget \(BACKFILL_HTTP_MAX_WAIT_S"):
        client.get_json("GET", "/x")
    assert len(limited.requests) == 1


def test_explicit_settings_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKFILL_HTTP_MAX_ATTEMPTS", "7")
    script = Script(httpx.Response(502, headers={"Retry-After": "0"}))
    settings = Settings(backfill_http_max_attempts=2)
    client = make_client(
        "jira", BASE, None, transport=httpx.MockTransport(script), settings=settings, limiter=RateLimiter(None)
    )
    with pytest.raises(TransientError, match="gave up after 2 attempts"):
        client.get_json("GET", "/x")
