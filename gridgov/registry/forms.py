"""Page forms of the registry: they parse input only; the services validate and save."""

from django import forms
from django.utils.translation import gettext_lazy as _

from gridgov.registry.models import (
    HelperKind,
    HouseholdClass,
    HouseType,
    HouseUse,
    IdType,
    PlaceType,
    Relation,
    ResidenceType,
    Sex,
    TagGroup,
)
from gridgov.registry.services import LIFE_EVENTS

DATE = forms.DateInput(attrs={"type": "date"})


class PersonForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=50)
    id_type = forms.ChoiceField(label=_("ID type"), choices=IdType.choices, initial=IdType.CITIZEN)
    id_number = forms.CharField(label=_("ID number"), max_length=40, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=32, required=False)
    sex = forms.ChoiceField(label=_("Sex"), choices=[("", "—")] + Sex.choices, required=False,
                            help_text=_("Taken from the ID number when there is one."))
    birth_date = forms.DateField(label=_("Birth date"), required=False, widget=DATE)
    ethnicity = forms.CharField(label=_("Ethnicity"), max_length=20, required=False, initial="汉族")
    education = forms.CharField(label=_("Education"), max_length=20, required=False)
    political_status = forms.CharField(label=_("Political status"), max_length=20, required=False)
    residence_type = forms.ChoiceField(label=_("Residence type"), choices=ResidenceType.choices)


class PersonCreateForm(PersonForm):
    grid_code = forms.CharField(label=_("Grid code"), max_length=32)
    household_number = forms.CharField(label=_("Household number (optional)"), max_length=32, required=False)
    relation = forms.ChoiceField(label=_("Relation to the head"), choices=[("", "—")] + Relation.choices,
                                 required=False)


class LifeEventForm(forms.Form):
    kind = forms.ChoiceField(label=_("Event"), choices=[(k.value, k.label) for k in LIFE_EVENTS])
    date = forms.DateField(label=_("Date"), required=False, widget=DATE)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class TagForm(forms.Form):
    tag = forms.ChoiceField(label=_("Tag"))
    start_date = forms.DateField(label=_("From"), required=False, widget=DATE)
    source = forms.CharField(label=_("Source"), max_length=50, required=False)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)

    def __init__(self, *args, tags, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tag"].choices = [(t.code, t.name) for t in tags]


class HouseholdForm(forms.Form):
    grid_code = forms.CharField(label=_("Grid code"), max_length=32)
    number = forms.CharField(label=_("Household number"), max_length=32)
    address = forms.CharField(label=_("Address"), max_length=200)
    income_per_person = forms.DecimalField(label=_("Yearly income per person (yuan)"), required=False,
                                           max_digits=10, decimal_places=2, min_value=0)
    safe_family_years = forms.IntegerField(label=_("Years as 平安家庭"), min_value=0, max_value=100, initial=0)


class HouseholdEditForm(forms.Form):
    address = forms.CharField(label=_("Address"), max_length=200)
    income_per_person = forms.DecimalField(label=_("Yearly income per person (yuan)"), required=False,
                                           max_digits=10, decimal_places=2, min_value=0)
    safe_family_years = forms.IntegerField(label=_("Years as 平安家庭"), min_value=0, max_value=100)


class OverrideForm(forms.Form):
    colour = forms.ChoiceField(label=_("Colour"), choices=HouseholdClass.choices)
    reason = forms.CharField(label=_("Reason"), max_length=200)
    until = forms.DateField(label=_("Until"), widget=DATE)


class HelperForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=50)
    kind = forms.ChoiceField(label=_("Kind"), choices=HelperKind.choices)
    phone = forms.CharField(label=_("Phone"), max_length=32, required=False)
    duty = forms.CharField(label=_("Contact duty"), max_length=100, required=False,
                           initial="每周电话联系，每月上门一次")


class TagCreateForm(forms.Form):
    code = forms.SlugField(label=_("Code"), max_length=40, help_text=_("Letters, digits and underscores, e.g. veteran"))
    name = forms.CharField(label=_("Name"), max_length=40)
    group = forms.ChoiceField(label=_("Group"), choices=TagGroup.choices)
    sensitive = forms.BooleanField(label=_("Sensitive (seen only by roles that need it)"), required=False)
    order = forms.IntegerField(label=_("Order"), min_value=0, max_value=32767, initial=100)


class RulesForm(forms.Form):
    name = forms.CharField(label=_("Name of the rule set"), max_length=50)
    rules = forms.JSONField(label=_("Rules (JSON)"), widget=forms.Textarea(attrs={"rows": 16}))


class HouseForm(forms.Form):
    grid_code = forms.CharField(label=_("Grid code"), max_length=32)
    address = forms.CharField(label=_("Address"), max_length=200)
    house_type = forms.ChoiceField(label=_("Type"), choices=HouseType.choices)
    owner_name = forms.CharField(label=_("Owner"), max_length=50, required=False)
    use = forms.ChoiceField(label=_("Use"), choices=HouseUse.choices)
    lng = forms.FloatField(label=_("Longitude"), required=False)
    lat = forms.FloatField(label=_("Latitude"), required=False)


class PlaceForm(forms.Form):
    grid_code = forms.CharField(label=_("Grid code"), max_length=32)
    name = forms.CharField(label=_("Name"), max_length=100)
    place_type = forms.ChoiceField(label=_("Type"), choices=PlaceType.choices)
    address = forms.CharField(label=_("Address"), max_length=200, required=False)
    contact_name = forms.CharField(label=_("Contact"), max_length=50, required=False)
    contact_phone = forms.CharField(label=_("Contact phone"), max_length=32, required=False)
    credit_code = forms.CharField(label=_("Unified social credit code"), max_length=18, required=False)
