"""API: bearer tokens."""


import datetime as dt

from ninja import Router, Schema
from ninja.responses import Status

from gridgov.core import selectors, services
from gridgov.core.auth import api_auth

router = Router(tags=["auth"])


class TokenIn(Schema):
    username: str
    password: str


class TokenOut(Schema):
    token: str
    expires_at: dt.datetime


class TokenInfo(Schema):
    id: int
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


@router.post("/auth/token", response={200: TokenOut}, auth=None, summary="Log in: exchange a password for a token")
def create_token(request, payload: TokenIn):
    token, api_token = services.token_create(request=request, username=payload.username, password=payload.password)
    return {"token": token, "expires_at": api_token.expires_at}


@router.get("/auth/tokens", response=list[TokenInfo], auth=api_auth, summary="My tokens")
def list_tokens(request):
    return selectors.token_list(actor=request.user)


@router.delete("/auth/tokens/{token_id}", response={204: None}, auth=api_auth, summary="Revoke a token")
def revoke_token(request, token_id: int):
    services.token_revoke(actor=request.user, token_id=token_id)
    return Status(204, None)


@router.delete("/auth/token", response={204: None}, auth=api_auth, summary="Revoke the token of this request")
def revoke_current_token(request):
    api_token = getattr(request, "api_token", None)
    if api_token is not None:
        services.token_revoke(actor=request.user, token_id=api_token.pk)
    return Status(204, None)
