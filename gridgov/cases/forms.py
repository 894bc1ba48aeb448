"""Page forms of the cases: they parse input and find the objects it names within the actor's reach; the services
validate and save."""

from __future__ import annotations

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from gridgov.cases import attachments, selectors
from gridgov.cases.models import Channel, Outcome, Rating, State, Urgency
from gridgov.cases.services import STAFF_CHANNELS
from gridgov.core.errors import ApplicationError, NotFound

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
NOTE = forms.Textarea(attrs={"rows": 2})

# The channels staff file through the hotline form (the public and outside systems have their own doors).


def category_choices(categories) -> list:
    """Categories grouped by domain, for a select with optgroups."""
    groups: dict[str, list] = {}
    for c in categories:
        groups.setdefault(c.domain.name, []).append((c.pk, c.name))
    return [("", "—")] + list(groups.items())


def area_choice_label(area, top_len: int) -> str:
    indent = "\u3000" * max(0, (len(area.path) - top_len) // 4)
    return f"{indent}{area.name} · {area.level.name}"


# --- workflow actions ------------------------------------------------------------------------------


class ActionForm(forms.Form):
    """A note, and the inputs of one action. ``params()`` gives ``case_act`` its keyword arguments."""

    note = forms.CharField(label=_("Note"), required=False, max_length=5000, widget=NOTE)

    def __init__(self, *args, transition, case, actor, **kwargs):
        kwargs.setdefault("auto_id", f"id_{transition.verb}_%s")
        super().__init__(*args, **kwargs)
        self.transition, self.case, self.actor = transition, case, actor
        self.verb = transition.verb
        if transition.note_required:
            self.fields["note"].required = True
            self.fields["note"].label = _("Reason or note")
        if transition.files:
            self.fields["files"] = MultipleFileField(label=_("Photos or files"), required=transition.files_required,
                                                     help_text=_("JPEG, PNG or WebP photos, or PDF documents."))

        self.order_fields([name for name in self.fields if name not in ("note", "files")] + ["note", "files"])

    def params(self) -> dict:
        return {}

    def uploads(self) -> list:
        return self.cleaned_data.get("files", [])


class TaxonomyForm(ActionForm):
    """Accept and register: the desk may correct the category and the urgency."""

    category = forms.TypedChoiceField(label=_("Category"), required=False, coerce=int, empty_value=None)
    urgency = forms.ChoiceField(label=_("Urgency"), required=False, choices=[("", "—")] + Urgency.choices)

    def __init__(self, *args, categories=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._categories = {c.pk: c for c in (categories if categories is not None
                                               else selectors.categories_active())}
        self.fields["category"].choices = category_choices(self._categories.values())
        if not self.is_bound:
            self.initial.setdefault("category", self.case.category_id)
            self.initial.setdefault("urgency", self.case.urgency)

    def params(self) -> dict:
        data = self.cleaned_data
        return {"category": self._categories.get(data["category"]) if data["category"] else None,
                "urgency": data["urgency"] or None}


class DispatchForm(TaxonomyForm):
    """Dispatch (派遣) or reassign (改派): a lead unit (an area below the desk or a department), assisting units."""

    target_area = forms.CharField(label=_("Lead unit: an area"), required=False, max_length=32,
                                  widget=forms.TextInput(attrs={"list": "dispatch-areas", "autocomplete": "off"}),
                                  help_text=_("Pick from the list or type an area code."))
    target_department = forms.TypedChoiceField(label=_("or a department"), required=False, coerce=int,
                                               empty_value=None)
    assist_areas = forms.MultipleChoiceField(label=_("Assisting areas (协办)"), required=False,
                                             widget=forms.SelectMultiple(attrs={"size": 5}),
                                             help_text=_("Hold Ctrl (⌘ on a Mac) to choose several."))
    assist_departments = forms.TypedMultipleChoiceField(label=_("Assisting departments (协办)"), required=False,
                                                        coerce=int, widget=forms.SelectMultiple(attrs={"size": 4}))

    def __init__(self, *args, units, **kwargs):
        super().__init__(*args, **kwargs)
        areas, departments = units
        self._departments = {d.pk: d for d in departments}
        top = min((len(a.path) for a in areas), default=0)
        self.fields["assist_areas"].choices = [(a.code, area_choice_label(a, top)) for a in areas]
        dept_choices = [(d.pk, f"{d.name} · {d.area.name}") for d in departments]
        self.fields["target_department"].choices = [("", "—")] + dept_choices
        self.fields["assist_departments"].choices = dept_choices
        if self.verb == "reassign":  # the category was settled when the case was registered
            del self.fields["category"], self.fields["urgency"]
        self.order_fields(["target_area", "target_department", "assist_areas", "assist_departments"])

    def clean_target_area(self):
        code = self.cleaned_data["target_area"].strip()
        if not code:
            return None
        try:
            return selectors.dispatch_area(case=self.case, code=code)
        except NotFound:
            raise forms.ValidationError(_("No such area below the desk.")) from None

    def clean(self):
        data = super().clean()
        if data.get("target_area") is None and not data.get("target_department") and not self.has_error("target_area"):
            self.add_error("target_area", _("Choose the lead unit: an area or a department."))
        elif data.get("target_area") is not None and data.get("target_department"):
            self.add_error("target_department", _("Choose one lead unit: an area or a department, not both."))
        return data

    def params(self) -> dict:
        data = self.cleaned_data
        params = super().params() if self.verb == "dispatch" else {}
        assist_areas = [selectors.dispatch_area(case=self.case, code=code) for code in data["assist_areas"]]
        params.update(
            target_area=data["target_area"],
            target_department=self._departments.get(data["target_department"]),
            assist_areas=assist_areas,
            assist_departments=[self._departments[pk] for pk in data["assist_departments"]],
        )
        return params


class CloseForm(ActionForm):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=Outcome.choices)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["note"].help_text = _("Required when the case is closed without being fixed.")
        if not self.is_bound and self.case.state != State.REPORTED:
            self.initial["outcome"] = Outcome.NOT_RESPONSIBLE

    def params(self) -> dict:
        return {"outcome": self.cleaned_data["outcome"]}


class RateForm(ActionForm):
    rating = forms.ChoiceField(label=_("Rating"), choices=Rating.choices, widget=forms.RadioSelect)

    def params(self) -> dict:
        return {"rating": self.cleaned_data["rating"]}


class SuperviseForm(ActionForm):
    deadline_at = forms.DateTimeField(
        label=_("Report back by"), input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def params(self) -> dict:
        return {"deadline_at": self.cleaned_data["deadline_at"]}


class SuspendForm(ActionForm):
    review_on = forms.DateField(label=_("Review on"), widget=DATE)

    def params(self) -> dict:
        return {"review_on": self.cleaned_data["review_on"]}


class MergeForm(ActionForm):
    duplicate_of = forms.CharField(label=_("Number of the original case"), max_length=24,
                                   widget=forms.TextInput(attrs={"list": "merge-candidates", "autocomplete": "off"}))

    def clean_duplicate_of(self):
        try:
            return selectors.case_get_by_number(actor=self.actor, number=self.cleaned_data["duplicate_of"])
        except NotFound:
            raise forms.ValidationError(_("No such case.")) from None

    def params(self) -> dict:
        return {"duplicate_of": self.cleaned_data["duplicate_of"]}


ACTION_FORMS: dict[str, type[ActionForm]] = {
    "accept": TaxonomyForm,
    "register": TaxonomyForm,
    "dispatch": DispatchForm,
    "reassign": DispatchForm,
    "close": CloseForm,
    "rate": RateForm,
    "supervise": SuperviseForm,
    "suspend": SuspendForm,
    "merge": MergeForm,
}


def action_form(transition, *, case, actor, data=None, files=None, categories=None, units=None) -> ActionForm:
    form_class = ACTION_FORMS.get(transition.verb, ActionForm)
    kwargs = {"transition": transition, "case": case, "actor": actor}
    if issubclass(form_class, TaxonomyForm):
        kwargs["categories"] = categories
    if form_class is DispatchForm:
        kwargs["units"] = units if units is not None else selectors.dispatch_units(case=case)
    return form_class(data, files, **kwargs)


# --- filing a case (the hotline form) -------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input; cleans to a list (empty when none was chosen)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp,.pdf"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        """The files, each given the quick check (type, size) for a clear message before anything is locked; the
        service checks everything again."""
        items = [item for item in (data if isinstance(data, list | tuple) else [data]) if item]
        if not items and self.required:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        files = [f for f in (super(MultipleFileField, self).clean(item, initial) for item in items) if f]
        problems = []
        for upload in files:
            try:
                attachments.check_upload(upload)
            except ApplicationError as exc:
                problems.append(exc.message)
        if problems:
            raise forms.ValidationError(problems)
        return files


class CaseCreateForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=[(c.value, c.label) for c in STAFF_CHANNELS])
    category = forms.TypedChoiceField(label=_("Category"), required=False, coerce=int, empty_value=None)
    urgency = forms.ChoiceField(label=_("Urgency"), required=False,
                                choices=[("", _("the category's default"))] + Urgency.choices)
    title = forms.CharField(label=_("Title"), required=False, max_length=120,
                            help_text=_("Optional: the first line of the description by default."))
    description = forms.CharField(label=_("Description"), max_length=5000, widget=forms.Textarea(attrs={"rows": 5}))
    area = forms.CharField(label=_("Area or grid"), required=False, max_length=32,
                           widget=forms.TextInput(attrs={"list": "report-areas", "autocomplete": "off"}),
                           help_text=_("Pick from the list or type an area code; or click the map."))
    lng = forms.FloatField(label=_("Longitude"), required=False, min_value=-180, max_value=180,
                           widget=forms.NumberInput(attrs={"step": "any"}))
    lat = forms.FloatField(label=_("Latitude"), required=False, min_value=-90, max_value=90,
                           widget=forms.NumberInput(attrs={"step": "any"}))
    address = forms.CharField(label=_("Address"), required=False, max_length=200)
    reporter_name = forms.CharField(label=_("Reporter's name"), required=False, max_length=50)
    reporter_phone = forms.CharField(label=_("Reporter's phone"), required=False, max_length=20)
    household = forms.CharField(label=_("Household number (optional)"), required=False, max_length=32)
    photos = MultipleFileField(label=_("Photos or files"), required=False,
                               help_text=_("JPEG, PNG or WebP photos, or PDF documents."))
    handle_directly = forms.BooleanField(label=_("I handle it myself (直办)"), required=False,
                                         help_text=_("A grid worker's own report, handled in the grid."))
    client_key = forms.CharField(widget=forms.HiddenInput, max_length=64, error_messages={
        "required": _("The form is incomplete: reload the page and fill it in again.")})

    def __init__(self, *args, categories, grid_staff: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self._categories = {c.pk: c for c in categories}
        self.fields["category"].choices = category_choices(categories)
        if not self.is_bound:
            self.initial.setdefault("client_key", uuid.uuid4().hex)
        if not grid_staff:
            del self.fields["handle_directly"]
        else:
            self.initial.setdefault("channel", Channel.GRID_WORKER)

    def clean(self):
        data = super().clean()
        if (data.get("lng") is None) != (data.get("lat") is None) and not self.errors:
            self.add_error("lng", _("Give both longitude and latitude, or neither."))
        return data

    def chosen_category(self):
        pk = self.cleaned_data.get("category")
        return self._categories.get(pk) if pk else None


# --- lists and statistics ---------------------------------------------------------------------------


class CaseFilterForm(forms.Form):
    q = forms.CharField(label=_("Number, title or tracking code"), required=False, max_length=60)
    state = forms.ChoiceField(label=_("State"), required=False)
    domain = forms.TypedChoiceField(label=_("Domain"), required=False, coerce=int, empty_value=None)
    category = forms.TypedChoiceField(label=_("Category"), required=False, coerce=int, empty_value=None)
    area = forms.CharField(label=_("Area code"), required=False, max_length=32,
                           widget=forms.TextInput(attrs={"list": "filter-areas", "autocomplete": "off"}))
    overdue = forms.ChoiceField(label=_("Overdue"), required=False,
                                choices=[("", "—"), ("yes", _("overdue")), ("no", _("not overdue"))])
    channel = forms.ChoiceField(label=_("Channel"), required=False, choices=[("", "—")] + Channel.choices)
    created_from = forms.DateField(label=_("Filed from"), required=False, widget=DATE)
    created_to = forms.DateField(label=_("Filed until"), required=False, widget=DATE)

    def __init__(self, *args, domains, categories, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["state"].choices = [("", "—"), ("open", _("all open cases"))] + State.choices
        self.fields["domain"].choices = [("", "—")] + [(d.pk, d.name) for d in domains]
        self.fields["category"].choices = category_choices(categories)
        self._domains = {d.pk: d for d in domains}
        self._categories = {c.pk: c for c in categories}

    def clean(self):
        data = super().clean()
        if data.get("created_from") and data.get("created_to") and data["created_from"] > data["created_to"]:
            self.add_error("created_to", _("The end lies before the start."))
        return data


class StatsFilterForm(forms.Form):
    area = forms.CharField(label=_("Area code"), required=False, max_length=32,
                           widget=forms.TextInput(attrs={"list": "filter-areas", "autocomplete": "off"}))
    created_from = forms.DateField(label=_("Filed from"), required=False, widget=DATE)
    created_to = forms.DateField(label=_("Filed until"), required=False, widget=DATE)

    def clean(self):
        data = super().clean()
        if data.get("created_from") and data.get("created_to") and data["created_from"] > data["created_to"]:
            self.add_error("created_to", _("The end lies before the start."))
        return data


# --- the taxonomy ---------------------------------------------------------------------------------------


class CategoryForm(forms.Form):
    domain = forms.TypedChoiceField(label=_("Domain"), coerce=int)
    code = forms.SlugField(label=_("Code"), max_length=48)
    name = forms.CharField(label=_("Name"), max_length=60)
    urgency = forms.ChoiceField(label=_("Default urgency"), choices=Urgency.choices)
    deadline_days = forms.IntegerField(label=_("Deadline (working days)"), required=False, min_value=0,
                                       max_value=365)
    deadline_hours = forms.IntegerField(label=_("Deadline (hours)"), required=False, min_value=1, max_value=720,
                                        help_text=_("Give working days or hours; hours win when both are given."))
    default_level = forms.TypedChoiceField(label=_("Default handling level"), required=False, coerce=int,
                                           empty_value=None)
    onsite_required = forms.BooleanField(label=_("On-site visit compulsory (五必到)"), required=False)
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, domains, levels, editing: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self._domains = {d.pk: d for d in domains}
        self._levels = {lv.pk: lv for lv in levels}
        self.fields["domain"].choices = [(d.pk, d.name) for d in domains]
        self.fields["default_level"].choices = [("", "—")] + [(lv.pk, lv.name) for lv in levels]
        if editing:
            self.fields["code"].disabled = True

    def clean(self):
        data = super().clean()
        if data.get("deadline_days") is None and data.get("deadline_hours") is None and not self.errors:
            self.add_error("deadline_days", _("Give a deadline in working days or in hours."))
        return data

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        data["domain"] = self._domains[data["domain"]]
        data["default_level"] = self._levels.get(data["default_level"]) if data["default_level"] else None
        return data
