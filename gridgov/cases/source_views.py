"""The page of outside systems (/cases/sources/): Open311 clients and video-AI sources, their keys.

System administrators only. A new key or secret is shown once, in the answer to the form that created it
(never stored in the session, never cached); afterwards only its first characters are shown."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from gridgov.cases import sources
from gridgov.cases.models import Channel
from gridgov.core.errors import ApplicationError, NotFound, PermissionDenied
from gridgov.core.forms import add_application_error


class SourceForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"), max_length=100,
        help_text=gettext_lazy("The system that files cases, e.g. 12345 platform, 雪亮工程 video AI."),
    )
    channel = forms.ChoiceField(
        label=gettext_lazy("Kind"),
        choices=[(Channel.OPEN311, gettext_lazy("Open311 client (API key)")),
                 (Channel.VIDEO_AI, gettext_lazy("Video-AI alarms (signed webhook)"))],
    )


def _admin_only(request) -> None:
    if not request.user.is_superuser:
        raise DjangoPermissionDenied


@login_required
def source_list(request):
    _admin_only(request)
    form = SourceForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            source, plain = sources.source_create(actor=request.user, name=form.cleaned_data["name"],
                                                  channel=form.cleaned_data["channel"])
        except PermissionDenied as exc:
            raise DjangoPermissionDenied from exc
        except ApplicationError as exc:
            add_application_error(form, exc)
        else:
            created = {"source": source, "plain": plain}
            if source.channel == Channel.VIDEO_AI:
                created["url"] = request.build_absolute_uri(f"/api/v1/webhooks/video-ai/{source.pk}")
            form = SourceForm()
    rows = sources.source_list(actor=request.user).annotate(case_count=Count("cases"))
    response = render(request, "cases/sources/list.html", {
        "sources": rows, "form": form, "created": created, "nav_section": "sources",
        "open311_url": request.build_absolute_uri(reverse("open311_root")),
    }, status=200)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def source_revoke(request, source_id: int):
    _admin_only(request)
    try:
        source = sources.source_get(actor=request.user, pk=source_id)
        sources.source_revoke(actor=request.user, source=source)
    except NotFound as exc:
        raise Http404 from exc
    except PermissionDenied as exc:
        raise DjangoPermissionDenied from exc
    messages.success(request, _('"%(name)s" was revoked: its requests are refused from now on.')
                     % {"name": source.name})
    return redirect("cases_sources")
