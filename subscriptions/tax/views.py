"""The team's tax IDs on its billing page: listed, added and removed by owners and admins."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from djstripe.models import TaxId

from ..services import BillingError
from .tax import TAX_ID_TYPE_LABELS, TAX_ID_TYPES
from .tax_ids import tax_id_add, tax_id_remove, tax_ids_for_team

if TYPE_CHECKING:
    from teams.models import Team

    from ..selectors import BillingOverview

logger = logging.getLogger(__name__)


class TaxIdForm(forms.Form):
    type = forms.ChoiceField(
        label=gettext_lazy("Type"), choices=[(t.type, t.label) for t in TAX_ID_TYPES]
    )
    value = forms.CharField(label=gettext_lazy("Number"), max_length=64)


def tax_id_context(*, team: Team, overview: BillingOverview) -> dict[str, Any]:
    """The billing page's tax ID section: the team's IDs and the form to add one."""
    if overview.customer_id is None:
        return {"tax_ids": [], "tax_id_form": None}
    rows = [
        {"id": t.id, "label": TAX_ID_TYPE_LABELS.get(str(t.type), t.type), "value": t.value}
        for t in tax_ids_for_team(team=team)
    ]
    return {"tax_ids": rows, "tax_id_form": TaxIdForm(), "tax_id_examples": TAX_ID_TYPES}


def _team_manager(request: HttpRequest) -> Team:
    from ..views import _require_billing_manager, _team

    _require_billing_manager(request)
    return _team(request)


@require_POST
@login_required
def tax_id_create(request: HttpRequest, team_slug: str) -> HttpResponse:
    team = _team_manager(request)
    form = TaxIdForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a tax ID type and enter its number."))
    else:
        try:
            data = form.cleaned_data
            tax_id_add(team=team, tax_type=data["type"], value=data["value"])
        except BillingError as exc:
            logger.info("tax id refused for team %s: %s", team.pk, exc)
            messages.error(request, exc.user_message)
        else:
            messages.success(request, _("Tax ID added. It shows on your next invoices."))
    return redirect("billing", team_slug=team.slug)


@require_POST
@login_required
def tax_id_delete(request: HttpRequest, team_slug: str, tax_id: str) -> HttpResponse:
    team = _team_manager(request)
    try:
        tax_id_remove(team=team, tax_id=tax_id)
    except TaxId.DoesNotExist:
        raise Http404("No such tax ID on this team") from None
    except BillingError as exc:
        logger.exception("tax id removal failed for team %s", team.pk)
        messages.error(request, exc.user_message)
    else:
        messages.success(request, _("Tax ID removed."))
    return redirect("billing", team_slug=team.slug)
