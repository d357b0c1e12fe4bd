"""Resource modules; importing this package registers every route.

Add a module here and to the import list below (see DEVELOPING.md).
"""

from __future__ import annotations

from . import (  # noqa: F401 - imported for their @route registrations
    account,
    accounts_v2,
    billing_portal,
    catalog,
    charges,
    checkout,
    credit_notes,
    customer_balance,
    customer_sources,
    customers,
    discounts,
    disputes,
    entitlements,
    events_api,
    helpers,
    invoice_items,
    invoices,
    meters,
    not_emulated,
    payment_intents,
    payment_methods,
    plans,
    setup_intents,
    subscription_schedules,
    subscriptions,
    tax_ids,
    tax_rates,
    test_clocks,
    webhook_endpoints,
)
