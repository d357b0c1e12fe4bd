from __future__ import annotations

from django.urls import path

from . import views
from .changes import views as views_plan_change
from .dunning import views as views_dunning
from .reports import views as views_staff
from .tax import views as views_tax

urlpatterns = [
    path("pricing/", views.pricing, name="pricing"),
    path("billing/choose/", views.choose, name="billing_choose"),
    path("staff/billing-health/", views_staff.billing_health, name="billing_health"),
]

# Mounted under /t/<slug:team_slug>/ by saas/urls.py: a team's billing pages.
team_urlpatterns = [
    path("billing/", views.billing, name="billing"),
    path("billing/checkout/", views.checkout, name="billing_checkout"),
    path("billing/success/", views.checkout_success, name="billing_success"),
    path("billing/portal/", views.portal, name="billing_portal"),
    path("billing/portal/return/", views.portal_return, name="billing_portal_return"),
    path("billing/resume/", views.resume, name="billing_resume"),
    path("billing/change/", views_plan_change.change, name="billing_change"),
    path("billing/change/keep/", views_plan_change.keep_plan, name="billing_change_keep"),
    path("billing/pause/", views_plan_change.pause_collection, name="billing_pause"),
    path("billing/pause/resume/", views_plan_change.resume_collection, name="billing_pause_resume"),
    path("billing/tax-ids/", views_tax.tax_id_create, name="billing_tax_id_create"),
    path(
        "billing/tax-ids/<str:tax_id>/delete/",
        views_tax.tax_id_delete,
        name="billing_tax_id_delete",
    ),
    path("billing/pay/", views_dunning.pay_now, name="billing_pay"),
    path("billing/cancel/", views_dunning.cancel, name="billing_cancel"),
    path("billing/seats/", views.seats_update, name="billing_seats"),
    path("dev/billing/", views.dev_billing, name="billing_dev"),
]

# The URLs from before teams, under the same names: each redirects to the same page
# of the user's current team (saas.views.current_team_redirect).
legacy_routes = [
    ("billing/", "billing"),
    ("billing/checkout/", "billing_checkout"),
    ("billing/success/", "billing_success"),
    ("billing/portal/", "billing_portal"),
    ("billing/portal/return/", "billing_portal_return"),
    ("billing/resume/", "billing_resume"),
    ("billing/pay/", "billing_pay"),
    ("billing/cancel/", "billing_cancel"),
    ("dev/billing/", "billing_dev"),
]
