"""How the identity slice says no.

``OAuthError`` carries the RFC 6749 §5.2 code; the HTTP layer renders it as the RFC prescribes
(JSON ``error``/``error_description``, not problem+json). The authorization endpoint's errors
are either a page (the client cannot be trusted with a redirect) or a redirect to the client.
"""

from __future__ import annotations

import math


class OAuthError(Exception):
    def __init__(
        self,
        error: str,
        description: str,
        *,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def invalid_client(description: str) -> OAuthError:
    return OAuthError(
        "invalid_client",
        description,
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="hearth"'},
    )


class AuthorizePageError(Exception):
    """The request cannot be redirected back (unknown client or redirect URI): show a page."""


class AuthorizeRedirectError(Exception):
    """An error the client learns about on its redirect URI (RFC 6749 §4.1.2.1)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class LoginFailed(Exception):
    """Wrong credentials on the login page: show the form again."""


class TooManyAttempts(Exception):
    """Too many failed sign-ins for this account or address: wait ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed sign-ins; try again in {math.ceil(retry_after)} s")
        self.retry_after = math.ceil(retry_after)
