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

# Sent by the daily seat reconciliation for each team whose paid quantity it fixed
# (after the Stripe update). Arguments: ``drift`` (seats.SeatDrift: team, subscription,
# members, paid and expected quantity) and ``outcome`` (seats.SeatSync: before, after).
seats_drift_fixed = Signal()
