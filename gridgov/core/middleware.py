from __future__ import annotations

from urllib.parse import unquote

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as PolicyPerResponseMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone, translation

from gridgov.core.audit import client_ip, current_ip
from gridgov.core.passwords import password_expired


class LanguageMiddleware:
    """Chinese unless the user chose English: the choice (a cookie set by /i18n/setlang/) wins, and the
    browser's Accept-Language is ignored, so that every office sees the same default language."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        return response


class RejectNulMiddleware:
    """A NUL character in the path, the query string or a JSON body is refused with 400 before any view
    sees it: PostgreSQL cannot store or compare text containing NUL, so neither may SQLite hold it.
    (Page forms refuse NUL in their own validation.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            "\x00" in request.path
            or "\x00" in unquote(request.META.get("QUERY_STRING", ""))
            or (request.content_type == "application/json" and (b"\\u0000" in request.body or b"\x00" in request.body))
        ):
            message = "NUL characters are not allowed."
            if request.path.startswith("/api/"):
                return JsonResponse({"code": "invalid_input", "message": message, "fields": {}}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain")
        return self.get_response(request)


class RequestContextMiddleware:
    """Makes the client address available to the audit log for the duration of a request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_ip.set(client_ip(request))
        try:
            return self.get_response(request)
        finally:
            current_ip.reset(token)


class PasswordExpiryMiddleware:
    """Sends a user whose password has expired to the password change page (pages only)."""

    allowed_prefixes = ("/static/", "/api/", "/i18n/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            settings.PASSWORD_MAX_AGE_DAYS
            and user is not None
            and user.is_authenticated
            and not request.path.startswith(self.allowed_prefixes)
            and request.path not in {reverse("password_change"), reverse("logout")}
            and password_expired(user, now=timezone.now())
        ):
            return redirect("password_change")
        return self.get_response(request)


class CSPMiddleware(PolicyPerResponseMiddleware):
    """django-csp's middleware, but a response that asks for nothing of its own (no nonce used, no policy set by its
    view, no URL prefix excluded in the settings) gets headers built once per handler: django-csp builds them
    anew for every response, which took about a tenth of the processor time of a small API request."""

    OWN = ("_csp_config", "_csp_update", "_csp_replace", "_csp_exempt",
           "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro", "_csp_exempt_ro")

    def __init__(self, get_response):
        super().__init__(get_response)
        self.headers: dict[str, str] | None = None

    def process_response(self, request, response):
        if (
            (settings.DEBUG and response.status_code in (404, 500))  # django-csp leaves Django's debug pages alone
            or getattr(request, "_csp_nonce", None) is not None
            or any(hasattr(response, name) for name in self.OWN)
            or any((getattr(settings, name, None) or {}).get("EXCLUDE_URL_PREFIXES")
                   for name in ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY"))
        ):
            return super().process_response(request, response)
        if self.headers is None:
            built = {HEADER: build_policy(), HEADER_REPORT_ONLY: build_policy(report_only=True)}
            self.headers = {header: value for header, value in built.items() if value}
        for header, value in self.headers.items():
            response.headers.setdefault(header, value)
        # As django-csp does: a nonce asked for after the header was written would not be in it.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
