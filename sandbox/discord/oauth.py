"""OAuth2 of the sandbox Discord: authorization codes, access and refresh tokens.

The authorization code grant as Discord runs it: ``/oauth2/authorize`` issues a one-time
code bound to the client and the redirect URI, ``POST /oauth2/token`` exchanges it (or a
refresh token) for a Bearer token, and the token reads ``/users/@me`` within its scopes.
Errors use the OAuth2 shape of RFC 6749 section 5.2 that Discord sends,
``{"error": "invalid_grant", "error_description": "..."}``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from midjau.settings import SandboxSettings

# Scopes the sandbox grants. Discord has many more, and MidJAu requests these two.
SUPPORTED_SCOPES = frozenset({"identify", "email"})
# Route templates without the /api/vN prefix: the two OAuth2 routes need no Authorization
# header, and a Bearer token may call only the routes its scopes cover.
AUTHORIZE_ROUTE = "/oauth2/authorize"
TOKEN_ROUTE = "/oauth2/token"  # noqa: S105 - a route, not a secret
BEARER_ROUTES = frozenset({"/users/@me"})


class OAuthError(Exception):
    """An OAuth2 error response: HTTP status, error code and description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        """Return the JSON body Discord sends for this error."""
        return {"error": self.error, "error_description": self.description}


def invalid_grant(description: str) -> OAuthError:
    return OAuthError(400, "invalid_grant", description)


def invalid_client() -> OAuthError:
    return OAuthError(401, "invalid_client", "Invalid client_id or client_secret.")


@dataclass(slots=True)
class AuthorizationCode:
    """A code issued by ``/oauth2/authorize``, usable once before it expires."""

    account_id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    expires_at: float
    used: bool = False
    # Access tokens issued for this code, revoked if the code is presented again.
    access_tokens: list[str] = field(default_factory=list)


@dataclass(slots=True)
class AccessGrant:
    """The permission behind an access token: the account, the scopes and the expiry time."""

    account_id: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    refresh_token: str


class OAuthGrants:
    """Codes and tokens of the sandbox's one OAuth2 client (the MidJAu application)."""

    def __init__(
        self, settings: SandboxSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._codes: dict[str, AuthorizationCode] = {}
        self._access: dict[str, AccessGrant] = {}
        self._refresh: dict[str, AccessGrant] = {}

    def check_authorize_request(self, client_id: str, redirect_uri: str) -> None:
        """Reject an unknown client or a redirect URI the application did not register."""
        if client_id != self.settings.oauth_client_id:
            raise OAuthError(400, "invalid_client", f"Unknown application {client_id!r}.")
        if not redirect_uri.startswith(("http://", "https://")):
            raise OAuthError(400, "invalid_request", "Invalid OAuth2 redirect_uri.")
        registered = self.settings.oauth_redirect_uris
        if registered and redirect_uri not in registered:
            raise OAuthError(400, "invalid_request", "Invalid OAuth2 redirect_uri.")

    def parse_scopes(self, scope: str) -> tuple[str, ...]:
        """Split a space-separated scope list; raise invalid_scope for an unknown scope."""
        scopes = tuple(dict.fromkeys(scope.split()))
        unknown = [name for name in scopes if name not in SUPPORTED_SCOPES]
        if not scopes or unknown:
            raise OAuthError(400, "invalid_scope", f"Invalid scope: {' '.join(unknown)!r}.")
        return scopes

    def issue_code(
        self, account_id: str, client_id: str, redirect_uri: str, scopes: Sequence[str]
    ) -> str:
        """Issue a one-time authorization code for an account that authorized the client."""
        code = secrets.token_urlsafe(24)
        self._codes[code] = AuthorizationCode(
            account_id=account_id,
            client_id=client_id,
            redirect_uri=redirect_uri,
            scopes=tuple(scopes),
            expires_at=self._clock() + self.settings.oauth_code_ttl_seconds,
        )
        return code

    def exchange_code(
        self, *, client_id: str, client_secret: str, code: str, redirect_uri: str
    ) -> dict[str, Any]:
        """Exchange an authorization code for tokens, checking every binding of the code.

        A code presented a second time is rejected and the tokens issued for it are
        revoked, as RFC 6749 section 4.1.2 recommends against a stolen code.
        """
        self._check_client(client_id, client_secret)
        issued = self._codes.get(code)
        if issued is None or issued.client_id != client_id:
            raise invalid_grant('Invalid "code" in request.')
        if issued.used:
            for token in issued.access_tokens:
                self._revoke(token)
            raise invalid_grant('Invalid "code" in request.')
        issued.used = True
        if issued.expires_at < self._clock():
            raise invalid_grant('Invalid "code" in request.')
        if redirect_uri != issued.redirect_uri:
            raise invalid_grant('Invalid "redirect_uri" in request.')

        response = self._issue_tokens(issued.account_id, client_id, issued.scopes)
        issued.access_tokens.append(response["access_token"])
        return response

    def refresh(self, *, client_id: str, client_secret: str, refresh_token: str) -> dict[str, Any]:
        """Exchange a refresh token for new tokens; the old pair stops working."""
        self._check_client(client_id, client_secret)
        grant = self._refresh.pop(refresh_token, None)
        if grant is None or grant.client_id != client_id:
            raise invalid_grant('Invalid "refresh_token" in request.')
        self._access = {token: g for token, g in self._access.items() if g is not grant}
        return self._issue_tokens(grant.account_id, client_id, grant.scopes)

    def grant_for(self, access_token: str) -> AccessGrant | None:
        """Return the grant of a valid, unexpired access token, or None."""
        grant = self._access.get(access_token)
        if grant is None or grant.expires_at < self._clock():
            return None
        return grant

    def _check_client(self, client_id: str, client_secret: str) -> None:
        expected = self.settings.oauth_client_secret
        if client_id != self.settings.oauth_client_id or not secrets.compare_digest(
            client_secret.encode(), expected.encode()
        ):
            raise invalid_client()

    def _issue_tokens(
        self, account_id: str, client_id: str, scopes: tuple[str, ...]
    ) -> dict[str, Any]:
        access_token = secrets.token_urlsafe(24)
        refresh_token = secrets.token_urlsafe(24)
        lifetime = self.settings.oauth_token_ttl_seconds
        grant = AccessGrant(
            account_id=account_id,
            client_id=client_id,
            scopes=scopes,
            expires_at=self._clock() + lifetime,
            refresh_token=refresh_token,
        )
        self._access[access_token] = grant
        self._refresh[refresh_token] = grant
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "refresh_token": refresh_token,
            "scope": " ".join(scopes),
        }

    def _revoke(self, access_token: str) -> None:
        grant = self._access.pop(access_token, None)
        if grant is not None:
            self._refresh.pop(grant.refresh_token, None)
