from __future__ import annotations

from urllib.parse import unquote

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
