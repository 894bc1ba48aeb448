"""The navigation link to visits, for those who may see them (one line in base.html)."""

from django import template

from gridgov.areas.scope import Perm, scope_for

register = template.Library()


@register.inclusion_tag("visits/_nav_link.html", takes_context=True)
def visits_nav_link(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    match = getattr(request, "resolver_match", None)
    return {
        "show": user is not None and user.is_authenticated and not scope_for(user, Perm.VISIT_VIEW).is_empty,
        "current": bool(match and match.app_name == "visits"),
    }
