"""Page forms of visits: they parse input only; the services validate and save."""

from __future__ import annotations

import uuid

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridgov.registry.models import HelperKind
from gridgov.visits.models import CoordinateSystem, Finding, VisitKind
from gridgov.visits.policy import PRESETS


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """Several photos in one input; each is checked by the service (real type, size)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleImageField, self).clean(d, initial) for d in data if d]
        return [super().clean(data, initial)] if data else []


class LocationForm(forms.Form):
    """The hidden fields the page's location component fills: where the phone says it is."""

    uuid = forms.UUIDField(widget=forms.HiddenInput)
    lng = forms.FloatField(required=False, widget=forms.HiddenInput, min_value=-180, max_value=180)
    lat = forms.FloatField(required=False, widget=forms.HiddenInput, min_value=-90, max_value=90)
    accuracy_m = forms.FloatField(required=False, widget=forms.HiddenInput, min_value=0)
    crs = forms.ChoiceField(choices=CoordinateSystem.choices, initial=CoordinateSystem.WGS84, widget=forms.HiddenInput)

    @classmethod
    def fresh(cls, **initial):
        """A form for a new visit, with its client ID: submitting it twice records one visit."""
        return cls(initial={"uuid": uuid.uuid4(), "crs": CoordinateSystem.WGS84, **initial})


DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
LOCAL_DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class VisitForm(LocationForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=[c for c in VisitKind.choices if c[0] != VisitKind.ONSITE],
                             initial=VisitKind.ROUTINE)
    visited_at = forms.DateTimeField(label=_("Time of the visit"), required=False, widget=LOCAL_DATETIME,
                                     input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"])
    findings = forms.MultipleChoiceField(label=_("Findings (tick what is not right)"), choices=Finding.choices,
                                         required=False, widget=forms.CheckboxSelectMultiple)
    note = forms.CharField(label=_("Note"), required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 3}))
    helpers = forms.MultipleChoiceField(label=_("Helpers who came along"), required=False,
                                        widget=forms.CheckboxSelectMultiple)
    companions = forms.CharField(label=_("Other companions (names, separated by commas)"), required=False,
                                 max_length=300)
    photos = MultipleImageField(label=_("Photos"), required=False)

    def __init__(self, *args, helpers=(), onsite: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper_rows = {str(h.pk): h for h in helpers}
        self.fields["helpers"].choices = [(str(h.pk), f"{h.name} · {h.get_kind_display()}") for h in helpers]
        if not helpers:
            del self.fields["helpers"]
        if onsite:
            self.fields["kind"].choices = [(VisitKind.ONSITE, VisitKind.ONSITE.label)]
            self.fields["kind"].initial = VisitKind.ONSITE
        if not self.is_bound and not self.initial.get("visited_at"):
            self.initial["visited_at"] = timezone.localtime().replace(second=0, microsecond=0)

    def companion_list(self) -> list[dict]:
        chosen = [self.helper_rows[pk] for pk in self.cleaned_data.get("helpers", []) if pk in self.helper_rows]
        out = [{"name": h.name, "kind": h.kind} for h in chosen]
        for name in (self.cleaned_data.get("companions") or "").replace("，", ",").replace("、", ",").split(","):
            if name.strip():
                out.append({"name": name.strip(), "kind": HelperKind.OTHER})
        return out

    def service_fields(self) -> dict:
        d = self.cleaned_data
        return {"kind": d["kind"], "visited_at": d.get("visited_at"), "lng": d.get("lng"), "lat": d.get("lat"),
                "crs": d.get("crs") or CoordinateSystem.WGS84, "accuracy_m": d.get("accuracy_m"),
                "findings": d.get("findings") or [], "note": d.get("note") or "", "companions": self.companion_list(),
                "photos": d.get("photos") or []}


class CorrectionForm(VisitForm):
    withdrawn = forms.BooleanField(label=_("The visit did not take place (withdraw it)"), required=False)


class FindingCaseForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=120)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea(attrs={"rows": 4}), max_length=5000)
    category = forms.ChoiceField(label=_("Category"), required=False)

    def __init__(self, *args, categories=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", "—")] + [(c.code, f"{c.domain.name} · {c.name}") for c in categories]


class PolicyForm(forms.Form):
    preset = forms.ChoiceField(label=_("Preset"), choices=[(k, v["name"]) for k, v in PRESETS.items()])
    red_contact_days = forms.IntegerField(label=_("Red households: contact at least every (days)"), required=False,
                                          min_value=1, max_value=60)
    onsite_hours = forms.IntegerField(label=_("Compulsory on-site visits due within (hours)"), required=False,
                                      min_value=1, max_value=720)
    far_metres = forms.IntegerField(label=_("Flag a visit farther from the house than (metres)"), required=False,
                                    min_value=10, max_value=100_000)


class PeriodForm(forms.Form):
    area = forms.CharField(label=_("Area code"), max_length=32, required=False)
    start = forms.DateField(label=_("From"), required=False, widget=DATE)
    end = forms.DateField(label=_("Until"), required=False, widget=DATE)
