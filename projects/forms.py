from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Project


class ProjectForm(forms.Form):
    name = forms.CharField(
        label=_("Project name"),
        max_length=Project._meta.get_field("name").max_length,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    description = forms.CharField(
        label=_("Description"),
        required=False,
        max_length=2000,
        help_text=_("Optional. What the project is about."),
        widget=forms.Textarea(attrs={"rows": 4, "class": "form-control"}),
    )
