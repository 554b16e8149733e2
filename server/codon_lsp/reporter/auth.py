"""Credentials for the GraphMemory-IDE backend and the TLS setup of its client.

None by default; a bearer token from ``CODON_LSP_GRAPHMEMORY_TOKEN``; or
``telemetry.username`` with ``CODON_LSP_GRAPHMEMORY_PASSWORD`` exchanged at
``POST /auth/token`` for a token that is fetched again after a 401.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping

import httpx

from codon_lsp.settings import TelemetrySettings

TOKEN_VARIABLE = "CODON_LSP_GRAPHMEMORY_TOKEN"
PASSWORD_VARIABLE = "CODON_LSP_GRAPHMEMORY_PASSWORD"


class AuthError(Exception):
    """The backend would not give us a token."""


class ReporterConfigError(Exception):
    """Telemetry settings that cannot work (unreadable CA file or certificate)."""


class Credentials:
    """Produces the Authorization header of each request."""

    def __init__(
        self,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self._static_token = token
        self._username = username
        self._password = password
        self._token: str | None = token

    @classmethod
    def from_settings(
        cls, telemetry: TelemetrySettings, environ: Mapping[str, str] | None = None
    ) -> Credentials:
        """Read the token or the password from the environment."""
        env = os.environ if environ is None else environ
        password = env.get(PASSWORD_VARIABLE)
        if telemetry.username and password:
            return cls(username=telemetry.username, password=password)
        return cls(token=env.get(TOKEN_VARIABLE) or None)

    @property
    def mode(self) -> str:
        """``none``, ``token`` or ``password`` (for logs; never the secret)."""
        if self._username:
            return "password"
        return "token" if self._static_token else "none"

    @property
    def renewable(self) -> bool:
        """Whether a 401 can be answered by asking for a new token."""
        return self._username is not None

    def headers(self, client: httpx.Client) -> dict[str, str]:
        """The Authorization header, exchanging the password first if needed."""
        if self._token is None and self._username is not None:
            self._token = self._exchange(client)
        if self._token is None:
            return {}
        return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> None:
        """Forget a token the backend refused, so the next request fetches one."""
        if self.renewable:
            self._token = None

    def _exchange(self, client: httpx.Client) -> str:
        try:
            response = client.post(
                "/auth/token",
                data={"username": self._username or "", "password": self._password},
            )
        except httpx.HTTPError as error:
            raise AuthError(f"token request failed: {type(error).__name__}") from error
        if response.status_code != 200:
            raise AuthError(f"token request answered {response.status_code}")
        try:
            token = response.json()["access_token"]
        except (ValueError, KeyError, TypeError) as error:
            raise AuthError("token response without access_token") from error
        if not isinstance(token, str) or not token:
            raise AuthError("token response without access_token")
        return token


def tls_verify(telemetry: TelemetrySettings) -> ssl.SSLContext | bool:
    """The ``verify`` argument of the client: verified by default, mTLS if set."""
    if not telemetry.verify_tls and not telemetry.client_cert:
        return False
    try:
        context = ssl.create_default_context(cafile=telemetry.ca_file)
        if not telemetry.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if telemetry.client_cert:
            context.load_cert_chain(telemetry.client_cert, telemetry.client_key)
    except (OSError, ssl.SSLError) as error:
        files = {
            "caFile": telemetry.ca_file,
            "clientCert": telemetry.client_cert,
            "clientKey": telemetry.client_key,
        }
        named = ", ".join(f"{key}={value}" for key, value in files.items() if value)
        raise ReporterConfigError(f"TLS files unusable ({named}): {error}") from error
    return context
