"""Stripe webhooks: intake, storage and processing of Stripe's events.

``intake`` verifies and stores a delivery once (``store``) and enqueues it; ``pipeline``
processes stored events (claim, sync, notify, retry, replay), mirroring from the payload
first (``mirror``) and canceling a customer's duplicate subscriptions (``duplicates``).
``urls`` mounts the intake under dj-stripe's namespace.
"""
