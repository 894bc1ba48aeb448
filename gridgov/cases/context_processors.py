from gridgov.areas.scope import Perm, scope_for
from gridgov.cases.selectors import may_use_cases


def navigation(request):
    """The "Cases" link for users who work with cases, and the section that is open."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    context = {"nav_cases": may_use_cases(actor=user),
               "nav_case_report": not scope_for(user, Perm.CASE_REPORT).is_empty}
    match = getattr(request, "resolver_match", None)
    if match and match.route.startswith("cases/"):
        context["nav_section"] = "cases"
    return context
