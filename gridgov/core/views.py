"""Pages of the core app: password change and API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridgov.core import selectors, services
from gridgov.core.errors import ApplicationError, ErrorCode
from gridgov.core.passwords import password_changed_at


class PasswordChange(auth_views.PasswordChangeView):
    success_url = reverse_lazy("home")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["changed_at"] = password_changed_at(self.request.user)
        return context

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, _("Your password has been changed."))
        return response


def locked_out(request, original_response=None, credentials=None):
    """django-axes' answer to a locked account: the error JSON for the API, a page otherwise."""
    message = _("Too many failed logins: this account is locked for a while.")
    if request.path.startswith("/api/"):
        body = {"code": ErrorCode.LOCKED_OUT, "message": message, "fields": {}}
        return JsonResponse(body, status=429)
    return render(request, "registration/locked_out.html", status=429)


@login_required
def tokens(request):
    return render(request, "core/tokens.html", {"tokens": selectors.token_list(actor=request.user)[:50]})


@login_required
@require_POST
def token_revoke(request, token_id: int):
    try:
        services.token_revoke(actor=request.user, token_id=token_id)
        messages.success(request, _("The token has been revoked."))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("tokens")
