from __future__ import annotations

from django.urls import path

from . import views, views_staff

urlpatterns = [
    path("pricing/", views.pricing, name="pricing"),
    path("billing/", views.billing, name="billing"),
    path("billing/choose/", views.choose, name="billing_choose"),
    path("billing/checkout/", views.checkout, name="billing_checkout"),
    path("billing/success/", views.checkout_success, name="billing_success"),
    path("billing/portal/", views.portal, name="billing_portal"),
    path("billing/portal/return/", views.portal_return, name="billing_portal_return"),
    path("billing/resume/", views.resume, name="billing_resume"),
    path("dev/billing/", views.dev_billing, name="billing_dev"),
    path("staff/billing-health/", views_staff.billing_health, name="billing_health"),
]
