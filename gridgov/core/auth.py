"""API authentication: bearer tokens, or the page session (with CSRF)."""

from __future__ import annotations

from ninja.security import APIKeyCookie, HttpBearer

from gridgov.core.services import token_authenticate


class BearerToken(HttpBearer):
    def authenticate(self, request, token: str):
        api_token = token_authenticate(token)
        if api_token is None:
            return None
        request.user = api_token.user
        request.api_token = api_token
        return api_token.user


class SessionAuth(APIKeyCookie):
    """The logged-in page session; unsafe methods need the CSRF token, as on pages."""

    param_name = "sessionid"

    def authenticate(self, request, key):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return user
        return None


api_auth = [BearerToken(), SessionAuth(csrf=True)]
