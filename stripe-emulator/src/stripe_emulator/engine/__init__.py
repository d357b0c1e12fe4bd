"""The billing engine: subscriptions, invoices, payments, proration, dunning, time.

This package is the API the rest of the emulator (the REST endpoints in
`resources/`, the hosted pages in `pages/`, the test helpers) calls; it never
imports them. Every function takes the request's `Ctx` and must run inside
`ctx.store.atomic()` (handlers already do; helper routes wrap their body).
Functions return the stored object (a fresh dict) and emit the events Stripe
would. DEVELOPING.md "Billing engine API" lists the public functions and the
module each lives in.

Time model. Everything scheduled (trial_will_end, trial end, renewals, the
invoice.created gate, payment retries, cancel_at, the 23 h incomplete
expiry, pause_collection.resumes_at) is derived from the stored objects by
`clocks._due_at()`; `clocks.process_due(ctx, clock_id, target)` runs whatever
is due up to `target` in chronological order. Test clocks call it from their
advance handler; subscriptions without a clock are processed by
`tick_real_clock()` (run by a background thread, see `start_real_clock`).

Importing the package registers the engine's hooks (invoice outcomes,
customer deletion, test-clock advances: checkout session expiry, then billing).
"""

from __future__ import annotations

from .cancellation import subscription_cancel

# checkout before clocks: its test-clock advance handler (session expiry) runs
# before the billing one, as it always has.
from .checkout import finish_authentication, start_completion
from .clocks import process_due, start_real_clock, tick_real_clock
from .common import (
    HOUR,
    Env,
    authentication_url,
    hosted_invoice_url,
    invoice_pdf_url,
    settings,
    update_settings,
)
from .confirmation import (
    confirm_setup_intent,
    payment_intent_authenticate,
    payment_intent_confirm,
    setup_intent_authenticate,
)
from .credit_notes import (
    credit_note_build,
    credit_note_create,
    credit_note_update,
    credit_note_void,
)
from .discounts import discounts_from_params
from .disputes import dispute_close, dispute_update
from .dunning import subscription_after_failure as _register_dunning  # noqa: F401 - hook
from .invoice_lines import (
    invoice_add_lines,
    invoice_remove_lines,
    invoice_update_line,
    invoice_update_lines,
)
from .invoicing import (
    add_invoice_item_line,
    attach_pending_items,
    collect_invoice,
    finalize_invoice,
    invoice_pay,
    mark_paid,
    mark_uncollectible,
    new_invoice,
    pending_invoice_items,
    refresh_totals,
    void_invoice,
)
from .payments import (
    ChargeOutcome,
    attempt_payment_intent,
    cancel_payment_intent,
    capture_payment_intent,
    card_charge_outcome,
    new_payment_intent,
    new_setup_intent,
    refund_charge,
    resolve_payment_method,
)
from .preview import invoice_preview
from .pricing import price_amount, price_product
from .proration import proration_lines
from .schedules import (
    schedule_list_filter,
    subscription_schedule_cancel,
    subscription_schedule_create,
    subscription_schedule_release,
    subscription_schedule_update,
)
from .subscription_state import period_of
from .subscriptions import (
    subscription_create,
    subscription_pause,
    subscription_resume,
)

# Updates go through pending_updates (payment_behavior=pending_if_incomplete);
# importing it and upcoming registers their invoice and test-clock hooks.
from .pending_updates import subscription_update  # isort: skip
from .upcoming import upcoming_invoice  # noqa: F401  # isort: skip

__all__ = [
    "HOUR",
    "ChargeOutcome",
    "Env",
    "add_invoice_item_line",
    "attach_pending_items",
    "attempt_payment_intent",
    "authentication_url",
    "cancel_payment_intent",
    "capture_payment_intent",
    "card_charge_outcome",
    "collect_invoice",
    "confirm_setup_intent",
    "credit_note_build",
    "credit_note_create",
    "credit_note_update",
    "credit_note_void",
    "discounts_from_params",
    "dispute_close",
    "dispute_update",
    "finalize_invoice",
    "finish_authentication",
    "hosted_invoice_url",
    "invoice_add_lines",
    "invoice_pay",
    "invoice_pdf_url",
    "invoice_preview",
    "invoice_remove_lines",
    "invoice_update_line",
    "invoice_update_lines",
    "mark_paid",
    "mark_uncollectible",
    "new_invoice",
    "new_payment_intent",
    "new_setup_intent",
    "payment_intent_authenticate",
    "payment_intent_confirm",
    "pending_invoice_items",
    "period_of",
    "price_amount",
    "price_product",
    "process_due",
    "proration_lines",
    "refresh_totals",
    "refund_charge",
    "resolve_payment_method",
    "schedule_list_filter",
    "settings",
    "setup_intent_authenticate",
    "start_completion",
    "start_real_clock",
    "subscription_cancel",
    "subscription_create",
    "subscription_pause",
    "subscription_resume",
    "subscription_schedule_cancel",
    "subscription_schedule_create",
    "subscription_schedule_release",
    "subscription_schedule_update",
    "subscription_update",
    "tick_real_clock",
    "update_settings",
    "void_invoice",
]
