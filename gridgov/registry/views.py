"""Pages of the resident registry: household list by colour, household file (一户一档), person file (一人一档),
houses and places. Thin: parse, call one service or selector, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridgov.areas import selectors as area_selectors
from gridgov.areas.scope import Perm, scope_for
from gridgov.core.errors import ApplicationError, NotFound
from gridgov.core.forms import add_application_error
from gridgov.registry import selectors, services
from gridgov.registry.forms import (
    HelperForm,
    HouseForm,
    HouseholdEditForm,
    HouseholdForm,
    LifeEventForm,
    OverrideForm,
    PersonCreateForm,
    PersonForm,
    PlaceForm,
    RulesForm,
    TagCreateForm,
    TagForm,
)
from gridgov.registry.models import HouseholdClass, ResidenceType


def _get(selector, request, pk):
    try:
        return selector(actor=request.user, pk=pk)
    except NotFound as exc:
        raise Http404 from exc


def _area_param(request):
    code = request.GET.get("area") or ""
    if not code:
        return None
    try:
        return area_selectors.area_get(actor=request.user, code=code, perm=Perm.RESIDENT_VIEW)
    except NotFound as exc:
        raise Http404 from exc


def _can(request, perm: Perm, area) -> bool:
    return scope_for(request.user, perm).contains(area.path)


def _page(request, qs, size=50):
    page = Paginator(qs, size).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()


def _can_export(request) -> bool:
    return not scope_for(request.user, Perm.RESIDENT_EXPORT).is_empty


@login_required
def household_list(request):
    area = _area_param(request)
    colour = request.GET.get("colour", "")
    colour = colour if colour in HouseholdClass.values else ""
    households = selectors.household_list(actor=request.user, area=area, household_class=colour,
                                          number_prefix=request.GET.get("number", ""))
    page, query = _page(request, households)
    return render(request, "registry/household_list.html", {
        "area": area, "colour": colour, "page": page, "query": query,
        "counts": selectors.household_class_counts(actor=request.user, area=area),
        "colours": HouseholdClass.choices, "can_export": _can_export(request),
    })


@login_required
def household_detail(request, household_id: int):
    household = _get(selectors.household_get, request, household_id)
    can_change = _can(request, Perm.RESIDENT_CHANGE, household.area)
    return render(request, "registry/household_detail.html", {
        "household": household,
        "members": selectors.household_members(actor=request.user, household=household),
        "helpers": household.helpers.filter(end_date__isnull=True),
        "history": selectors.household_history(household=household)[:50],
        "can_change": can_change,
        "override_form": OverrideForm() if can_change else None,
        "helper_form": HelperForm() if can_change else None,
        "edit_form": HouseholdEditForm(initial={"address": household.address,
                                                "income_per_person": household.income_per_person,
                                                "safe_family_years": household.safe_family_years})
        if can_change else None,
    })


def _household_action(request, household_id, form_class, call, success):
    household = _get(selectors.household_get, request, household_id)
    if not _can(request, Perm.RESIDENT_CHANGE, household.area):
        raise Http404
    form = form_class(request.POST)
    if form.is_valid():
        try:
            call(household, form.cleaned_data)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, success)
    else:
        messages.error(request, "; ".join(f"{form.fields[f].label if f in form.fields else ''}: {' '.join(e)}"
                                          for f, e in form.errors.items()))
    return redirect("household_detail", household_id=household.pk)


@login_required
@require_POST
def household_edit(request, household_id: int):
    return _household_action(request, household_id, HouseholdEditForm, lambda h, d: services.household_update(
        actor=request.user, household=h, **d), _("The household has been updated."))


@login_required
@require_POST
def household_override(request, household_id: int):
    return _household_action(request, household_id, OverrideForm, lambda h, d: services.household_override(
        actor=request.user, household=h, **d), _("The manual colour has been set."))


@login_required
@require_POST
def household_helper(request, household_id: int):
    return _household_action(request, household_id, HelperForm, lambda h, d: services.household_helper_add(
        actor=request.user, household=h, **d), _("The helper has been added."))


def _create_page(request, form_class, create, title, template="registry/form.html"):
    if scope_for(request.user, Perm.RESIDENT_CHANGE).is_empty:
        raise Http404
    initial = {"grid_code": request.GET.get("area", "")}
    form = form_class(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            area = area_selectors.area_get(actor=request.user, code=data.pop("grid_code").strip(),
                                           perm=Perm.RESIDENT_VIEW)
            obj = create(area, data)
        except NotFound:
            form.add_error("grid_code", _("No such grid in your areas."))
        except ApplicationError as exc:
            add_application_error(form, exc)
        else:
            messages.success(request, _("Saved."))
            return obj
    return render(request, template, {"form": form, "title": title})


@login_required
def household_create(request):
    result = _create_page(request, HouseholdForm, lambda area, d: services.household_create(
        actor=request.user, area=area, **d), _("New household"))
    return result if isinstance(result, HttpResponse) else redirect("household_detail", household_id=result.pk)


@login_required
def person_list(request):
    area = _area_param(request)
    filters = selectors.PersonFilters(
        area=area, name_prefix=request.GET.get("name", ""), id_number=request.GET.get("id_number", ""),
        tag=request.GET.get("tag", ""), residence_type=request.GET.get("residence_type", ""),
        household_class=request.GET.get("colour", ""), include_inactive=request.GET.get("all") == "1",
    )
    page, query = _page(request, selectors.person_list(actor=request.user, filters=filters))
    return render(request, "registry/person_list.html", {
        "area": area, "page": page, "query": query, "filters": filters,
        "tags": selectors.visible_tags(actor=request.user, area=area).filter(active=True),
        "residence_types": ResidenceType.choices, "colours": HouseholdClass.choices,
        "can_export": _can_export(request),
    })


@login_required
def person_create(request):
    def create(area, data):
        number = data.pop("household_number", "").strip()
        household = None
        if number:
            household = selectors.household_list(actor=request.user).filter(number=number).first()
            if household is None:
                raise ApplicationError("household_invalid", _("No such household."),
                                       fields={"household_number": [_("No such household in your areas.")]})
        return services.person_create(actor=request.user, area=area, household=household, **data)

    result = _create_page(request, PersonCreateForm, create, _("Register a person"))
    return result if isinstance(result, HttpResponse) else redirect("person_detail", person_id=result.pk)


@login_required
def person_detail(request, person_id: int):
    person = _get(selectors.person_get, request, person_id)
    can_change = _can(request, Perm.RESIDENT_CHANGE, person.area)
    tags = selectors.visible_tags(actor=request.user, area=person.area).filter(active=True)
    return render(request, "registry/person_detail.html", {
        "person": person,
        "tags": selectors.person_tags(actor=request.user, person=person),
        "timeline": selectors.person_timeline(actor=request.user, person=person),
        "can_change": can_change,
        "can_reveal": _can(request, Perm.RESIDENT_REVEAL, person.area),
        "tag_form": TagForm(tags=tags) if can_change else None,
        "event_form": LifeEventForm() if can_change and person.alive else None,
    })


@login_required
def person_edit(request, person_id: int):
    person = _get(selectors.person_get, request, person_id)
    if not _can(request, Perm.RESIDENT_CHANGE, person.area):
        raise Http404
    fields = ["name", "id_type", "sex", "birth_date", "ethnicity", "education", "political_status", "residence_type"]
    form = PersonForm(request.POST or None, initial={f: getattr(person, f) for f in fields})
    if request.method == "POST" and form.is_valid():
        changes = {k: v for k, v in form.cleaned_data.items() if k in fields and v not in (None, "")}
        for secret in ("id_number", "phone"):  # left empty: unchanged
            if form.cleaned_data[secret]:
                changes[secret] = form.cleaned_data[secret]
        try:
            services.person_update(actor=request.user, person=person, **changes)
        except ApplicationError as exc:
            add_application_error(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("person_detail", person_id=person.pk)
    form.fields["id_number"].help_text = _("Now %(masked)s; leave empty to keep it.") % {
        "masked": person.id_number_masked or "—"}
    form.fields["phone"].help_text = _("Now %(masked)s; leave empty to keep it.") % {
        "masked": person.phone_masked or "—"}
    return render(request, "registry/form.html", {"form": form, "title": _("Edit %(name)s") % {"name": person.name}})


@login_required
@require_POST
def person_reveal(request, person_id: int, field: str):
    """htmx: swaps the masked value for the full one (audited). Refused: the masked value stays."""
    person = _get(selectors.person_get, request, person_id)
    try:
        value = services.person_reveal(actor=request.user, person=person, field=field)
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404 from exc
        return HttpResponse(f'<span class="error">{escape(exc.message)}</span>', status=403)
    return HttpResponse(f'<span class="revealed">{escape(value)}</span>')


def _person_action(request, person_id, form, call, success):
    person = _get(selectors.person_get, request, person_id)
    if not _can(request, Perm.RESIDENT_CHANGE, person.area):
        raise Http404
    if form.is_valid():
        try:
            call(person, form.cleaned_data)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, success)
    else:
        messages.error(request, " ".join(" ".join(e) for e in form.errors.values()))
    return redirect("person_detail", person_id=person.pk)


@login_required
@require_POST
def person_event(request, person_id: int):
    return _person_action(request, person_id, LifeEventForm(request.POST), lambda p, d: services.person_life_event(
        actor=request.user, person=p, **d), _("The event has been recorded."))


@login_required
@require_POST
def person_tag_add(request, person_id: int):
    person = _get(selectors.person_get, request, person_id)
    tags = selectors.visible_tags(actor=request.user, area=person.area).filter(active=True)
    form = TagForm(request.POST, tags=tags)

    def add(p, d):
        services.person_tag_add(actor=request.user, person=p, tag=tags.get(code=d.pop("tag")), **d)

    return _person_action(request, person_id, form, add, _("The tag has been added."))


@login_required
@require_POST
def person_tag_end(request, person_id: int, person_tag_id: int):
    person = _get(selectors.person_get, request, person_id)
    person_tag = selectors.person_tags(actor=request.user, person=person).filter(pk=person_tag_id).first()
    if person_tag is None or not _can(request, Perm.RESIDENT_CHANGE, person.area):
        raise Http404
    try:
        services.person_tag_end(actor=request.user, person_tag=person_tag)
        messages.success(request, _("The tag has ended."))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("person_detail", person_id=person.pk)


@login_required
def tag_list(request):
    form = TagCreateForm(request.POST or None) if request.user.is_superuser else None
    if request.method == "POST":
        if form is None:
            raise Http404
        if "toggle" in request.POST:
            tag = selectors.visible_tags(actor=request.user).filter(code=request.POST["toggle"]).first()
            if tag is None:
                raise Http404
            field = "sensitive" if request.POST.get("field") == "sensitive" else "active"
            services.tag_update(actor=request.user, tag=tag, **{field: not getattr(tag, field)})
            messages.success(request, _("Saved."))
            return redirect("tag_list")
        if form.is_valid():
            try:
                services.tag_create(actor=request.user, **form.cleaned_data)
            except ApplicationError as exc:
                add_application_error(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect("tag_list")
    return render(request, "registry/tags.html", {"tags": selectors.visible_tags(actor=request.user),
                                                   "form": form})


@login_required
def rules(request):
    if not request.user.is_superuser and scope_for(request.user, Perm.RESIDENT_VIEW).is_empty:
        raise Http404
    current = services.active_rules()
    form = None
    if request.user.is_superuser:
        form = RulesForm(request.POST or None, initial={"name": "", "rules": current})
        if request.method == "POST" and form.is_valid():
            try:
                services.rules_set(actor=request.user, **form.cleaned_data)
            except ApplicationError as exc:
                add_application_error(form, exc)
            else:
                messages.success(request, _("The new rules are in force; the nightly batch applies them."))
                return redirect("household_rules")
    elif request.method == "POST":
        raise Http404
    return render(request, "registry/rules.html", {"rules": current, "name": selectors.rules_in_force_name(),
                                                    "form": form})


@login_required
def house_list(request):
    area = _area_param(request)
    page, query = _page(request, selectors.house_list(actor=request.user, area=area))
    return render(request, "registry/house_list.html", {"area": area, "page": page, "query": query,
                                                        "can_export": _can_export(request)})


@login_required
def house_create(request):
    result = _create_page(request, HouseForm, lambda area, d: services.house_create(
        actor=request.user, area=area, **d), _("New house"))
    return result if isinstance(result, HttpResponse) else redirect(f"/registry/houses/?area={result.area.code}")


@login_required
def place_list(request):
    area = _area_param(request)
    page, query = _page(request, selectors.place_list(actor=request.user, area=area,
                                                       place_type=request.GET.get("type", "")))
    return render(request, "registry/place_list.html", {"area": area, "page": page, "query": query,
                                                        "can_export": _can_export(request)})


@login_required
def place_create(request):
    result = _create_page(request, PlaceForm, lambda area, d: services.place_create(
        actor=request.user, area=area, **d), _("New place"))
    return result if isinstance(result, HttpResponse) else redirect(f"/registry/places/?area={result.area.code}")
