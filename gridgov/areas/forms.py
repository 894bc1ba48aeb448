"""Page forms: they parse input only; the services validate and save."""

from django import forms
from django.utils.translation import gettext_lazy as _

from gridgov.areas.codes import significant_prefix
from gridgov.areas.models import AreaKind, AreaLevel, DedicatedType, Employment, Role, Slot


class AreaCreateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    code = forms.CharField(label=_("Code"), max_length=32)
    level = forms.ModelChoiceField(label=_("Level"), queryset=AreaLevel.objects.all(), empty_label=None)
    kind = forms.ChoiceField(label=_("Kind"), choices=AreaKind.choices)
    dedicated_type = forms.ChoiceField(label=_("Dedicated grid type"), required=False,
                                       choices=[("", "—")] + DedicatedType.choices)
    geometry = forms.CharField(label=_("Boundary (GeoJSON)"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, parent, **kwargs):
        super().__init__(*args, **kwargs)
        below = AreaLevel.objects.filter(depth__gt=parent.level.depth)
        self.fields["level"].queryset = below
        first = below.first()
        if first is not None:
            self.fields["level"].initial = first.pk
            if first.is_division:
                hint = _("12 digits that extend %(code)s") % {"code": significant_prefix(parent.code, parent.level)}
            else:
                hint = _("%(code)s followed by %(n)d digits") % {"code": parent.code, "n": first.sequence_width}
            self.fields["code"].help_text = hint


class AreaEditForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    dedicated_type = forms.ChoiceField(label=_("Dedicated grid type"), required=False,
                                       choices=[("", "—")] + DedicatedType.choices)
    geometry = forms.CharField(label=_("Boundary (GeoJSON)"), required=False, widget=forms.Textarea(attrs={"rows": 6}),
                               help_text=_("A GeoJSON Polygon or MultiPolygon in WGS-84; empty clears it."))


class AreaMoveForm(forms.Form):
    new_parent_code = forms.CharField(label=_("Code of the new parent"), max_length=32)
    new_code = forms.CharField(label=_("New code (if it changes)"), max_length=32, required=False)


class StaffCreateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=50)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    slot = forms.ChoiceField(label=_("Post"), required=False, choices=[("", "—")] + Slot.choices)
    phone = forms.CharField(label=_("Work phone"), max_length=32, required=False)
    employment = forms.ChoiceField(label=_("Employment"), choices=Employment.choices, initial=Employment.PART_TIME)
    yearly_stipend = forms.IntegerField(label=_("Yearly stipend (yuan)"), min_value=0, initial=0)
    start_date = forms.DateField(label=_("Start date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    username = forms.CharField(label=_("Login name (optional)"), max_length=150, required=False)
    password = forms.CharField(label=_("Initial password"), required=False, widget=forms.PasswordInput)


class PostCreateForm(forms.Form):
    area_code = forms.CharField(label=_("Area code"), max_length=32)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    slot = forms.ChoiceField(label=_("Post"), required=False, choices=[("", "—")] + Slot.choices)
    start_date = forms.DateField(label=_("Start date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


class DepartmentForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    phone = forms.CharField(label=_("Duty phone"), max_length=32, required=False)


class HandlerForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=50)
    phone = forms.CharField(label=_("Work phone"), max_length=32, required=False)
    username = forms.CharField(label=_("Login name (optional)"), max_length=150, required=False)
    password = forms.CharField(label=_("Initial password"), required=False, widget=forms.PasswordInput)


class AuditFilterForm(forms.Form):
    actor = forms.CharField(label=_("Actor"), required=False)
    action = forms.CharField(label=_("Action"), required=False)
    object = forms.CharField(label=_("Object"), required=False)
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
