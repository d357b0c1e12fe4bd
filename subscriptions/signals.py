"""Signals the billing domain sends; other apps (notifications) connect to them.

``subscriptions`` never imports the apps that react: they connect in their
``AppConfig.ready``.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent once per processed event that canceled one or more duplicate subscriptions,
# inside the event's transaction (receivers queue emails with on_commit).
# Arguments: ``resolutions`` (list of DuplicateSubscription rows created by this
# event), ``team_id`` (the customer's team, or None), ``stripe_event_id``, ``livemode``.
subscription_duplicates_canceled = Signal()

# Sent once per processed customer event (its team is known), inside the event's
# transaction, so a receiver's rows commit or roll back with the event.
# Arguments: ``team_id``, ``stripe_event_id``, ``event_type``, ``obj`` (the event's
# object as Stripe sent it), ``previous`` (previous_attributes or None), ``livemode``.
billing_event_processed = Signal()

# Sent once per processed event whose type staff are alerted about (disputes,
# refunds, ...), inside the event's transaction.
# Arguments: ``stripe_event_id``, ``event_type``, ``obj``, ``livemode``.
staff_billing_event_processed = Signal()

# Sent once per refund staff made from the admin, when it is done (not for a
# repeated submit), outside any transaction. Arguments: ``refund`` (the
# StaffRefund row: amount, currency, reason, team, Stripe ids).
staff_refund_issued = Signal()
