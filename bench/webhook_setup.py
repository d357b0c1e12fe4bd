"""Fixture step of bench/webhook_bench.py, run as ``python -m bench.webhook_setup``.

Needs a migrated database and a bootstrapped emulator (``billing_bootstrap``).
Adds a second webhook endpoint for dj-stripe's stock view, disables both
endpoints in the emulator (so it never delivers anything during the bench:
the bench is the only sender), updates every product and price a few times to
produce real ``product.updated`` / ``price.updated`` events, and prints one
JSON document: both endpoints (uuid, secret) and those events.

With a third argument N > 0 it also signs up N customers (a 4242 card, a
monthly subscription), and prints every event of every type: the mix a
signup produces (customer, payment method, subscription, invoice, payment
intent, charge) with its real sizes, besides the catalogue updates.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import TYPE_CHECKING, Any

import django

if TYPE_CHECKING:
    from stripe.params import EventListParams


def main(stock_url_prefix: str, rounds: int, customers: int = 0) -> None:
    django.setup()
    import stripe
    from django.conf import settings
    from djstripe.models import WebhookEndpoint

    client = stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        stripe_version=settings.STRIPE_API_VERSION,
    )
    ours = WebhookEndpoint.objects.exclude(secret="").order_by("-created").first()
    if ours is None:
        raise SystemExit("no webhook endpoint: run billing_bootstrap first")
    stock_uuid = uuid.uuid4()
    created = client.v1.webhook_endpoints.create(
        {
            "url": f"{stock_url_prefix}webhook/{stock_uuid}/",
            "enabled_events": ["product.updated", "price.updated"],
            "description": "bench: dj-stripe stock view",
            "metadata": {"djstripe_uuid": str(stock_uuid)},
        }
    )
    data: dict[str, Any] = created.to_dict()
    stock = WebhookEndpoint.sync_from_stripe_data(data)
    stock.secret = data["secret"]
    stock.djstripe_uuid = stock_uuid
    stock.save(update_fields=["secret", "djstripe_uuid"])
    for endpoint_id in (ours.id, stock.id):
        client.v1.webhook_endpoints.update(endpoint_id, {"disabled": True})

    products = list(client.v1.products.list({"limit": 100}).auto_paging_iter())
    prices = list(client.v1.prices.list({"limit": 100}).auto_paging_iter())
    for n in range(rounds):
        for product in products:
            client.v1.products.update(product.id, {"metadata": {"bench_round": str(n)}})
        for price in prices:
            client.v1.prices.update(price.id, {"metadata": {"bench_round": str(n)}})
    if customers:
        signups(client, customers)
    listed: EventListParams = {"limit": 100}
    if not customers:
        listed["types"] = ["product.updated", "price.updated"]
    events = [
        event.to_dict(for_json=True) for event in client.v1.events.list(listed).auto_paging_iter()
    ]
    json.dump(
        {
            "ours": {"uuid": str(ours.djstripe_uuid), "secret": ours.secret},
            "stock": {"uuid": str(stock_uuid), "secret": stock.secret},
            "events": events,
        },
        sys.stdout,
    )


def signups(client: Any, n: int) -> None:
    """n customers with a card, each subscribed to the monthly Pro price."""
    price = client.v1.prices.list({"lookup_keys": ["pro_monthly"], "limit": 1}).data[0]
    for i in range(n):
        customer = client.v1.customers.create(
            {"payment_method": "pm_card_visa", "email": f"bench{i}@example.com"}
        )
        card = client.v1.customers.payment_methods.list(customer.id).data[0]
        client.v1.customers.update(
            customer.id, {"invoice_settings": {"default_payment_method": card.id}}
        )
        client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0)
