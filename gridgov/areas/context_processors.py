from gridgov.areas.scope import Perm, scope_for

_SECTIONS = {"home": "home", "audit_log": "audit"}


def navigation(request):
    """What the navigation bar offers the signed-in user, and which section is open."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    match = getattr(request, "resolver_match", None)
    url_name = match.url_name if match else ""
    section = _SECTIONS.get(url_name, "areas" if match and match.route.startswith("areas/") else "")
    if match and match.route.startswith("registry/"):
        section = "registry"
    return {
        "nav_audit": not scope_for(user, Perm.AUDIT_VIEW).is_empty,
        "nav_registry": not scope_for(user, Perm.RESIDENT_VIEW).is_empty,
        "nav_section": section,
    }
