from gridgov.areas.scope import Perm, scope_for


def navigation(request):
    """What the navigation bar offers the signed-in user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_audit": not scope_for(user, Perm.AUDIT_VIEW).is_empty}
