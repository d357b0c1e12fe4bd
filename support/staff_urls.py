from __future__ import annotations

from django.urls import path

from . import staff_views

# Mounted under /staff/ (beside /staff/billing-health/).
urlpatterns = [
    path("customers/", staff_views.customer_search, name="staff_customer_search"),
    path("customers/team/<int:pk>/", staff_views.customer_team, name="staff_customer_team"),
    path("customers/user/<int:pk>/", staff_views.customer_user, name="staff_customer_user"),
]
