"""The home page: what the signed-in user is responsible for, across the capabilities."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from gridgov.areas import selectors as area_selectors
from gridgov.areas.scope import Perm, scope_for
from gridgov.registry import selectors as registry_selectors


@login_required
def home(request):
    user = request.user
    roots = list(area_selectors.area_children(actor=user, parent=None)[:20])
    counts = {a.pk: area_selectors.area_counts(area=a) for a in roots[:5]}
    residents = scope_for(user, Perm.RESIDENT_VIEW)
    colours = {a.pk: registry_selectors.household_class_counts(actor=user, area=a)
               for a in roots[:5] if residents.contains(a.path)}
    return render(
        request,
        "home.html",
        {
            "posts": area_selectors.me_posts(actor=user),
            "roots": [(a, counts.get(a.pk), colours.get(a.pk)) for a in roots],
        },
    )
