"""Helpers shared by the page forms of every app."""

from django import forms

from gridgov.core.errors import ApplicationError


def add_application_error(form: forms.Form, exc: ApplicationError) -> None:
    """Shows a refused service call on the form: per field where it names fields, else on top."""
    if not exc.fields:
        form.add_error(None, exc.message)
    for field, problems in exc.fields.items():
        for problem in problems:
            form.add_error(field if field in form.fields else None, problem)
