"""Forms of the resident's public pages (随手拍, tracking, rating). They parse input only; the services and
``gridgov.cases.attachments`` check and save."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from gridgov.cases import attachments, selectors
from gridgov.core.errors import ApplicationError

# Mainland mobile numbers (1[3-9]xxxxxxxxx) and landlines with their area code (0xx-xxxxxxxx).
PHONE_RE = re.compile(r"^(?:1[3-9]\d{9}|0\d{2,3}\d{7,8})$")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = [f for f in (data if isinstance(data, list | tuple) else [data]) if f]
        if not files:
            if self.required:
                raise forms.ValidationError(self.error_messages["required"], code="required")
            return []
        limit = settings.CASE_UPLOAD_MAX_FILES
        if len(files) > limit:
            raise forms.ValidationError(_("At most %(count)s photos can be sent with one report.") % {"count": limit})
        errors = []
        for upload in files:
            try:
                attachments.check_upload(upload, images_only=True)
            except ApplicationError as exc:
                errors.append(exc.message)
        if errors:
            raise forms.ValidationError(errors)
        return files


class CategoryChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.name


def _grouped_category_choices(empty_label: str) -> list:
    groups: dict[str, list] = {}
    for category in selectors.categories_active():
        groups.setdefault(category.domain.name, []).append((category.pk, category.name))
    return [("", empty_label), *groups.items()]


class ReportForm(forms.Form):
    """The 随手拍 report. ``homepage`` is a honeypot: hidden from people, filled in by form-filling robots."""

    category = CategoryChoiceField(label=_("What kind of problem"), queryset=None, required=False)
    description = forms.CharField(
        label=_("What is the problem"), max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": _("What, where, since when. Please do not write "
                                                                 "other people's personal details.")}),
    )
    photos = MultipleImageField(
        label=_("Photos"), required=False,
        widget=MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp,image/*"}),
    )
    lng = forms.FloatField(required=False, min_value=-180, max_value=180, widget=forms.HiddenInput)
    lat = forms.FloatField(required=False, min_value=-90, max_value=90, widget=forms.HiddenInput)
    address = forms.CharField(label=_("Address or landmark"), max_length=200, required=False,
                              widget=forms.TextInput(attrs={"placeholder": _("e.g. the bridge east of the "
                                                                             "primary school")}))
    phone = forms.CharField(label=_("Your phone number"), max_length=20,
                            widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "tel"}),
                            help_text=_("Only staff handling the report see it, to call you back."))
    name = forms.CharField(label=_("Your name (optional)"), max_length=50, required=False,
                           widget=forms.TextInput(attrs={"autocomplete": "name"}))
    client_key = forms.UUIDField(widget=forms.HiddenInput)
    homepage = forms.CharField(required=False, max_length=200, widget=forms.TextInput(
        attrs={"tabindex": "-1", "autocomplete": "off", "aria-hidden": "true"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["category"]
        field.queryset = selectors.categories_active()
        field.choices = _grouped_category_choices(str(_("Not sure (the staff will sort it)")))
        for name in ("description", "address", "phone", "name"):
            self.fields[name].widget.attrs.setdefault("maxlength", self.fields[name].max_length)

    def clean_description(self):
        text = self.cleaned_data["description"].strip()
        if "\x00" in text:
            raise forms.ValidationError(_("The text contains characters that are not allowed."))
        return text

    def clean_phone(self):
        phone = re.sub(r"[\s\-()（）]", "", self.cleaned_data["phone"])
        if phone.startswith("+86"):
            phone = phone[3:]
        if not PHONE_RE.match(phone):
            raise forms.ValidationError(_("Enter a mobile number (11 digits) or a landline with its area code."))
        return phone

    def clean(self):
        data = super().clean()
        for name in ("address", "name"):
            if "\x00" in (data.get(name) or ""):
                self.add_error(name, _("The text contains characters that are not allowed."))
        if (data.get("lng") is None) != (data.get("lat") is None):
            self.add_error(None, _("The place on the map is incomplete: pick it again."))
        return data

    @property
    def is_robot(self) -> bool:
        return bool((self.data.get("homepage") or "").strip())


class TrackForm(forms.Form):
    code = forms.CharField(label=_("Tracking code"), max_length=16, min_length=4,
                           widget=forms.TextInput(attrs={"autocapitalize": "characters", "autocomplete": "off",
                                                         "spellcheck": "false", "placeholder": "ABCD2345EF"}))

    def clean_code(self):
        code = re.sub(r"[\s\-]", "", self.cleaned_data["code"]).upper()
        if not (code.isascii() and code.isalnum()):
            raise forms.ValidationError(_("A tracking code has only letters and digits."))
        return code


RATING_CHOICES = [
    ("satisfied", _("Satisfied")),
    ("basically", _("Basically satisfied")),
    ("unsatisfied", _("Unsatisfied")),
]


class RatingForm(forms.Form):
    rating = forms.ChoiceField(label=_("How satisfied are you with how it was handled?"), choices=RATING_CHOICES,
                               widget=forms.RadioSelect)
    comment = forms.CharField(label=_("Comment (optional)"), max_length=500, required=False,
                              widget=forms.Textarea(attrs={"rows": 3, "maxlength": 500}))

    def clean_comment(self):
        text = self.cleaned_data["comment"].strip()
        if "\x00" in text:
            raise forms.ValidationError(_("The text contains characters that are not allowed."))
        return text
