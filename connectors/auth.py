"""Auth as ``httpx.Auth`` objects built once from settings.

They hold ``SecretStr`` and know their setting name.

The setting name is what an AuthError reports ("Jira rejected JIRA_API_TOKEN for …");
``secret_values`` feeds the redactor, so neither the token nor the encoded header can reach a message.
"""

from __future__ import annotations

import base64
from collections.abc import Generator

import httpx
from pydantic import SecretStr

__all__ = ["BasicAuth", "BearerAuth", "HeaderAuth", "SecretAuth"]


class SecretAuth(httpx.Auth):
    """Base: an auth that names the setting it came from and can list its secret strings for redaction."""

    setting: str = "credentials"

    def _header(self) -> tuple[str, str]:
        raise NotImplementedError

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        name, value = self._header()
        request.headers[name] = value
        yield request

    def secret_values(self) -> list[str]:
        return [self._header()[1]]

    def __repr__(self) -> str:  # never the token
        return f"{type(self).__name__}(setting={self.setting!r})"


class BasicAuth(SecretAuth):
    """``Authorization: Basic base64(user:token)`` (Jira Cloud: email + API token)."""

    def __init__(self, username: str, token: SecretStr, *, setting: str) -> None:
        self._username = username
        self._token = token
        self.setting = setting

    def _header(self) -> tuple[str, str]:
        raw = f"{self._username}:{self._token.get_secret_value()}".encode()
        return "Authorization", f"Basic {base64.b64encode(raw).decode()}"

    def secret_values(self) -> list[str]:
        return [self._token.get_secret_value(), self._header()[1].split(" ", 1)[1]]


class BearerAuth(SecretAuth):
    """``Authorization: Bearer <token>`` (Tempo, Slack, Notion, GitHub, Fireflies)."""

    def __init__(self, token: SecretStr, *, setting: str) -> None:
        self._token = token
        self.setting = setting

    def _header(self) -> tuple[str, str]:
        return "Authorization", f"Bearer {self._token.get_secret_value()}"

    def secret_values(self) -> list[str]:
        return [self._token.get_secret_value()]


class HeaderAuth(SecretAuth):
    """A token in a named header (``Api-Key: …`` for Pinecone)."""

    def __init__(self, header: str, token: SecretStr, *, setting: str) -> None:
        self._name = header
        self._token = token
        self.setting = setting

    def _header(self) -> tuple[str, str]:
        return self._name, self._token.get_secret_value()
