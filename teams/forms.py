from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Membership


class TeamCreateForm(forms.Form):
    name = forms.CharField(label=_("Team name"), max_length=100)


class TeamUpdateForm(forms.Form):
    name = forms.CharField(label=_("Team name"), max_length=100)
    billing_email = forms.EmailField(label=_("Billing email"), required=False)


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("Email address"))
    role = forms.ChoiceField(label=_("Role"), choices=Membership.Role.choices, initial="member")
