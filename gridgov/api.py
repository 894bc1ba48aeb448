"""The one NinjaAPI: mounts each app's router and renders every error as {"code", "message", "fields"}."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.db import DataError
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from gridgov.areas.api import router as areas_router
from gridgov.cases.api import router as cases_router
from gridgov.cases.webhooks import router as webhooks_router
from gridgov.core.api import router as core_router
from gridgov.core.auth import api_auth
from gridgov.core.calendar_api import router as calendar_router
from gridgov.core.errors import ApplicationError, ErrorCode
from gridgov.registry.api import router as registry_router
from gridgov.registry.import_api import router as registry_import_router
from gridgov.visits.api import router as visits_router

api = NinjaAPI(
    title="gridgov API",
    version="1",
    description="网格化基层社会治理平台 API. Authenticate with POST /api/v1/auth/token, then send "
    "`Authorization: Bearer <token>`.",
    auth=api_auth,
    urls_namespace="api",
)
# Django tries the URL patterns one by one, and the API has over a hundred: the cases, which take the bursts of
# reports, come first (filing one was matched after some seventy other patterns).
api.add_router("/", cases_router)
api.add_router("/", core_router)
api.add_router("/", calendar_router)
api.add_router("/", areas_router)
api.add_router("/", registry_router)
api.add_router("/", registry_import_router)
api.add_router("/", webhooks_router)
api.add_router("/", visits_router)


def _error(request, status: int, code: str, message: str, fields=None):
    return api.create_response(request, {"code": code, "message": message, "fields": fields or {}}, status=status)


@api.exception_handler(ApplicationError)
def on_application_error(request, exc: ApplicationError):
    return _error(request, exc.status, exc.code, exc.message, exc.fields)


_WHERE = {"body", "query", "path", "form", "file", "header", "cookie"}


@api.exception_handler(ValidationError)
def on_validation_error(request, exc: ValidationError):
    fields: dict[str, list[str]] = {}
    for err in exc.errors:
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] in _WHERE:  # where ninja found it (``body.payload.``, ``file.``): the field's name only
            loc = loc[2:] if loc[0] == "body" and loc[1:2] == ["payload"] else loc[1:]
        fields.setdefault(".".join(loc) or "input", []).append(err.get("msg", "invalid"))
    return _error(request, 422, ErrorCode.INVALID_INPUT, "The input is not valid.", fields)


@api.exception_handler(DataError)
def on_data_error(request, exc):
    """Input the database itself refuses (a NUL character in text on PostgreSQL): nothing was saved."""
    return _error(request, 400, ErrorCode.INVALID_INPUT, "The input contains characters that cannot be stored.")


@api.exception_handler(AuthenticationError)
def on_auth_error(request, exc):
    return _error(request, 401, ErrorCode.UNAUTHENTICATED, "Log in first: send a valid bearer token.")


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    code = {403: ErrorCode.PERMISSION_DENIED, 404: ErrorCode.NOT_FOUND}.get(exc.status_code, ErrorCode.INVALID_INPUT)
    return _error(request, exc.status_code, code, str(exc))


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return _error(request, 404, ErrorCode.NOT_FOUND, "Not found.")


@api.exception_handler(ObjectDoesNotExist)
def on_object_missing(request, exc):
    return _error(request, 404, ErrorCode.NOT_FOUND, "Not found.")
