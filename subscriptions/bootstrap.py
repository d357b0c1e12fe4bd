"""Make Stripe match the catalog file, idempotently (``manage.py billing_bootstrap``).

Plans become products (found again by ``metadata.catalog_plan``), prices are
found by lookup key (a changed amount makes a new price that takes over the
lookup key; the old one is archived), features become Stripe entitlement
features attached to the products, then the Customer Portal configuration and
the webhook endpoint for ``SITE_URL``. Then dj-stripe mirrors the result and,
when a plan's features changed, the plan's subscribers get their active
entitlements re-read and their cached access recomputed (Stripe itself applies
a product's feature changes to existing subscriptions only at their next
billing period; ``access.plan_features`` follows the catalog meanwhile).
A second run finds nothing to change. Works the same against the emulator and
a real Stripe test account.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import stripe
from django.conf import settings
from djstripe.models import Feature, Price, Product, ProductFeature, WebhookEndpoint

from .bootstrap_credits import credit_packs_ensure, credit_packs_mirror
from .bootstrap_usage import usage_catalog_ensure, usage_catalog_mirror
from .catalog import CATALOG_TAG, Catalog, PlanSpec, PriceSpec, get_catalog
from .services import _as_dict, entitlements_sync, stripe_client

logger = logging.getLogger(__name__)

# The events the app reacts to; the endpoint subscribes to these only.
WEBHOOK_EVENTS = [
    "checkout.session.completed",
    "checkout.session.expired",
    # Credit packs paid with a delayed method (docs.stripe.com/checkout/fulfillment).
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.trial_will_end",
    # An upgrade held for its payment (payment_behavior=pending_if_incomplete) applied or dropped.
    "customer.subscription.pending_update_applied",
    "customer.subscription.pending_update_expired",
    # A downgrade scheduled for the period end (subscriptions/changes/plan_change.py).
    "subscription_schedule.created",
    "subscription_schedule.updated",
    "subscription_schedule.released",
    "subscription_schedule.canceled",
    "subscription_schedule.completed",
    "subscription_schedule.aborted",
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    # Days before a renewal (dunning: the yearly renewal notice).
    "invoice.upcoming",
    "invoice.updated",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "payment_method.attached",
    "payment_method.detached",
    "payment_method.automatically_updated",
    "entitlements.active_entitlement_summary.updated",
    "product.created",
    "product.updated",
    "price.created",
    "price.updated",
    "charge.refunded",
    "charge.dispute.created",
    # Evidence submitted in the Dashboard moves a dispute to under_review.
    "charge.dispute.updated",
    "charge.dispute.closed",
    # A staff refund's later outcome (asynchronous refunds, refunds that fail).
    "refund.updated",
    "refund.failed",
]
CANCEL_REASONS = ["too_expensive", "missing_features", "switched_service", "unused", "other"]


@dataclass
class Change:
    action: str  # create, update, archive, attach, detach
    # feature, product, price, product_feature, portal_configuration, webhook_endpoint, meter
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.action:<8} {self.kind:<21} {self.detail}"


@dataclass
class BootstrapResult:
    changes: list[Change] = field(default_factory=list)
    webhook_endpoint_id: str | None = None
    webhook_url: str | None = None
    # Customers whose entitlements were re-read because their plan's features changed.
    entitlements_refreshed: list[str] = field(default_factory=list)


class Bootstrap:
    def __init__(self, *, catalog: Catalog, site_url: str, dry_run: bool) -> None:
        self.catalog = catalog
        self.site_url = site_url.rstrip("/")
        self.dry_run = dry_run
        self.client = stripe_client()
        self.result = BootstrapResult()
        self._counter = 0
        # Plans whose product gained or lost a feature in this run.
        self._features_changed: set[str] = set()

    # -- helpers -------------------------------------------------------------------

    def _change(self, action: str, kind: str, detail: str) -> None:
        change = Change(action, kind, detail)
        self.result.changes.append(change)
        logger.debug("billing_bootstrap %s%s", "(dry run) " if self.dry_run else "", change)

    def _write(self, placeholder: dict[str, Any], call: Callable[..., Any], *args: Any) -> Any:
        """Run ``call(*args)``, or return a stand-in object in dry-run mode."""
        if self.dry_run:
            self._counter += 1
            return stripe.StripeObject.construct_from(
                {**placeholder, "id": f"dryrun_{placeholder.get('id', 'x')}_{self._counter}"}, None
            )
        return call(*args)

    def _idem(self, *parts: object) -> Any:
        raw = ":".join(str(p) for p in ("bootstrap", *parts))
        return {"idempotency_key": hashlib.sha256(raw.encode()).hexdigest()[:48]}

    # -- steps -----------------------------------------------------------------------

    def features(self) -> dict[str, Any]:
        existing = {
            f.lookup_key: f
            for f in self.client.v1.entitlements.features.list({"limit": 100}).auto_paging_iter()
        }
        result: dict[str, Any] = {}
        for key, spec in self.catalog.features.items():
            feature = existing.get(key)
            if feature is None:
                self._change("create", "feature", f"{key} ({spec.name})")
                feature = self._write(
                    {"id": "feat", "lookup_key": key, "name": spec.name},
                    self.client.v1.entitlements.features.create,
                    {"lookup_key": key, "name": spec.name, "metadata": {"source": CATALOG_TAG}},
                    self._idem("feature", key),
                )
            elif feature.name != spec.name:
                self._change("update", "feature", f"{key}: name {feature.name!r} -> {spec.name!r}")
                feature = self._write(
                    {"id": feature.id, "lookup_key": key, "name": spec.name},
                    self.client.v1.entitlements.features.update,
                    feature.id,
                    {"name": spec.name},
                )
            result[key] = feature
        return result

    def products(self) -> dict[str, Any]:
        existing: dict[str, Any] = {}
        product: Any
        for product in self.client.v1.products.list({"limit": 100}).auto_paging_iter():
            plan_key = _meta(product).get("catalog_plan")
            if plan_key and (plan_key not in existing or product.active):
                existing[plan_key] = product
        result: dict[str, Any] = {}
        wanted = {plan.key: plan for plan in self.catalog.paid_plans}
        for plan in wanted.values():
            product = existing.get(plan.key)
            desired = {"name": plan.name, "description": plan.description or None}
            if product is None:
                self._change("create", "product", f"{plan.key} ({plan.name})")
                product = self._write(
                    {"id": "prod", "name": plan.name, "active": True},
                    self.client.v1.products.create,
                    {
                        "name": plan.name,
                        **({"description": plan.description} if plan.description else {}),
                        "metadata": {"catalog_plan": plan.key, "source": CATALOG_TAG},
                    },
                    self._idem("product", plan.key),
                )
            elif (
                product.name != desired["name"]
                or (product.description or None) != desired["description"]
                or not product.active
            ):
                self._change("update", "product", f"{plan.key}: name/description/active")
                product = self._write(
                    {"id": product.id, "name": plan.name, "active": True},
                    self.client.v1.products.update,
                    product.id,
                    {"name": plan.name, "description": plan.description or "", "active": True},
                )
            result[plan.key] = product
        for plan_key, product in existing.items():
            if plan_key not in wanted and product.active:
                self._change("archive", "product", f"{plan_key} ({product.id})")
                self._write(
                    {"id": product.id},
                    self.client.v1.products.update,
                    product.id,
                    {"active": False},
                )
        return result

    def product_features(self, plan: PlanSpec, product: Any, features: dict[str, Any]) -> None:
        if _is_placeholder(product):
            attached: dict[str, Any] = {}
        else:
            attached = {
                pf.entitlement_feature.lookup_key: pf
                for pf in self.client.v1.products.features.list(
                    product.id, {"limit": 100}
                ).auto_paging_iter()
            }
        for key in plan.features:
            if key not in attached:
                self._features_changed.add(plan.key)
                self._change("attach", "product_feature", f"{key} -> {plan.key}")
                self._write(
                    {"id": "prodft"},
                    self.client.v1.products.features.create,
                    product.id,
                    {"entitlement_feature": features[key].id},
                )
        for key, pf in attached.items():
            if key not in plan.features:
                self._features_changed.add(plan.key)
                self._change("detach", "product_feature", f"{key} from {plan.key}")
                self._write(
                    {"id": pf.id}, self.client.v1.products.features.delete, product.id, pf.id
                )

    def prices(self, plan: PlanSpec, product: Any) -> list[Any]:
        if _is_placeholder(product):
            existing: list[Any] = []
        else:
            existing = list(
                self.client.v1.prices.list(
                    {"product": product.id, "active": True, "limit": 100}
                ).auto_paging_iter()
            )
        by_key = {p.lookup_key: p for p in existing if p.lookup_key}
        current: list[Any] = []
        for spec in plan.prices:
            price = by_key.get(spec.lookup_key)
            if price is None:
                # The lookup key may sit on a price of another product or an archived one.
                moved = self.client.v1.prices.list({"lookup_keys": [spec.lookup_key], "limit": 1})
                transfer = bool(moved.data)
                self._change(
                    "create", "price", f"{spec.lookup_key} ({_describe(spec, self.catalog)})"
                )
                price = self._create_price(spec, product, transfer=transfer)
            elif not _price_matches(price, spec, self.catalog.currency):
                self._change(
                    "create",
                    "price",
                    f"{spec.lookup_key}: {_describe_price(price)} -> "
                    f"{_describe(spec, self.catalog)} (lookup key transferred)",
                )
                new_price = self._create_price(spec, product, transfer=True)
                self._change("archive", "price", f"{price.id} (was {spec.lookup_key})")
                self._write(
                    {"id": price.id}, self.client.v1.prices.update, price.id, {"active": False}
                )
                price = new_price
            current.append(price)
        wanted_keys = {spec.lookup_key for spec in plan.prices}
        for price in existing:
            if price.lookup_key not in wanted_keys:
                self._change(
                    "archive", "price", f"{price.id} ({price.lookup_key or 'no lookup key'})"
                )
                self._write(
                    {"id": price.id}, self.client.v1.prices.update, price.id, {"active": False}
                )
        return current

    def _create_price(self, spec: PriceSpec, product: Any, *, transfer: bool) -> Any:
        params: dict[str, Any] = {
            "product": product.id,
            "currency": self.catalog.currency,
            "unit_amount": spec.amount,
            "recurring": {"interval": spec.interval, "interval_count": spec.interval_count},
            "lookup_key": spec.lookup_key,
            "metadata": {"source": CATALOG_TAG},
        }
        if spec.tax_behavior != "unspecified":
            params["tax_behavior"] = spec.tax_behavior
        if transfer:
            params["transfer_lookup_key"] = True
        idem = self._idem(
            "price",
            product.id,
            spec.lookup_key,
            spec.amount,
            spec.interval,
            spec.interval_count,
            self.catalog.currency,
            spec.tax_behavior,
        )
        return self._write(
            {"id": "price", "lookup_key": spec.lookup_key},
            self.client.v1.prices.create,
            params,
            idem,
        )

    def portal_configuration(self, products: dict[str, Any], prices: dict[str, list[Any]]) -> None:
        desired: dict[str, Any] = {
            "business_profile": {"headline": f"{settings.SITE_NAME}: manage your subscription"},
            "default_return_url": f"{self.site_url}/billing/",
            "features": {
                # The business name and tax IDs print on invoices (Stripe Tax, VAT).
                "customer_update": {
                    "enabled": True,
                    "allowed_updates": ["email", "address", "name", "tax_id"],
                },
                "invoice_history": {"enabled": True},
                "payment_method_update": {"enabled": True},
                "subscription_cancel": {
                    "enabled": True,
                    "mode": "at_period_end",
                    "proration_behavior": "none",
                    "cancellation_reason": {"enabled": True, "options": CANCEL_REASONS},
                },
                "subscription_update": {
                    "enabled": True,
                    "default_allowed_updates": ["price"],
                    "proration_behavior": "create_prorations",
                    "products": [
                        _portal_product(self.catalog.plan(key), products[key], prices[key])
                        for key in sorted(products)
                    ],
                },
            },
        }
        fingerprint = hashlib.sha256(json.dumps(desired, sort_keys=True).encode()).hexdigest()[:32]
        desired["metadata"] = {"source": CATALOG_TAG, "catalog_hash": fingerprint}
        existing = None
        for config in self.client.v1.billing_portal.configurations.list(
            {"active": True, "limit": 100}
        ).auto_paging_iter():
            if _meta(config).get("source") == CATALOG_TAG:
                existing = config
                break
        if existing is None:
            self._change("create", "portal_configuration", "plan switching, cancel, card, invoices")
            self._write({"id": "bpc"}, self.client.v1.billing_portal.configurations.create, desired)
        elif _meta(existing).get("catalog_hash") != fingerprint:
            self._change("update", "portal_configuration", f"{existing.id}: catalog changed")
            self._write(
                {"id": existing.id},
                self.client.v1.billing_portal.configurations.update,
                existing.id,
                desired,
            )

    def retention_coupon(self) -> None:
        """Create the catalog's retention coupon once. Stripe never changes a coupon's
        discount after creation, so a changed offer needs a new coupon id."""
        spec = self.catalog.retention
        if spec is None:
            return
        try:
            existing = self.client.v1.coupons.retrieve(spec.coupon)
        except stripe.InvalidRequestError:
            existing = None
        if existing is not None:
            if existing.percent_off != spec.percent_off or existing.duration != spec.duration:
                logger.warning(
                    "billing_bootstrap: coupon %s differs from the catalog; give the new "
                    "offer a new coupon id",
                    spec.coupon,
                )
            return
        params: dict[str, Any] = {
            "id": spec.coupon,
            "name": spec.name,
            "percent_off": spec.percent_off,
            "duration": spec.duration,
            "metadata": {"source": CATALOG_TAG},
        }
        if spec.duration_in_months is not None:
            params["duration_in_months"] = spec.duration_in_months
        self._change("create", "coupon", f"{spec.coupon}: {spec.name}")
        self._write({"id": spec.coupon}, self.client.v1.coupons.create, params)

    def webhook_endpoint(self) -> None:
        prefix = f"{self.site_url}/stripe/webhook/"
        local = (
            WebhookEndpoint.objects.filter(
                url__startswith=prefix, livemode=settings.STRIPE_LIVE_MODE
            )
            .exclude(secret="")
            .order_by("-created")
            .first()
        )
        if local is not None:
            try:
                remote = self.client.v1.webhook_endpoints.retrieve(local.id)
            except stripe.InvalidRequestError:
                remote = None
            if (
                remote is not None
                and remote.url == local.url
                and remote.status == "enabled"
                and sorted(remote.enabled_events) == sorted(WEBHOOK_EVENTS)
            ):
                self.result.webhook_endpoint_id = local.id
                self.result.webhook_url = local.url
                return
            if remote is not None:
                # Edited in place, never replaced: the secret stays the one the
                # intake verifies with, and events created while a replacement
                # was being made would go to neither endpoint.
                self._change("update", "webhook_endpoint", f"{local.id}: events, URL or status")
                if not self.dry_run:
                    self.client.v1.webhook_endpoints.update(
                        local.id,
                        {
                            "url": local.url,
                            "enabled_events": WEBHOOK_EVENTS,
                            "disabled": False,
                        },  # type: ignore[arg-type]  # event names are Literals in the stubs
                    )
                self.result.webhook_endpoint_id = local.id
                self.result.webhook_url = local.url
                return
        djstripe_uuid = uuid.uuid4()
        url = f"{prefix}{djstripe_uuid}/"
        self._change("create", "webhook_endpoint", url)
        self.result.webhook_url = url
        if self.dry_run:
            return
        endpoint = self.client.v1.webhook_endpoints.create(
            {
                "url": url,
                "enabled_events": WEBHOOK_EVENTS,  # type: ignore[typeddict-item]
                "api_version": settings.STRIPE_API_VERSION,  # type: ignore[typeddict-item]
                "description": f"{settings.SITE_NAME} (billing_bootstrap)",
                "metadata": {"djstripe_uuid": str(djstripe_uuid), "source": CATALOG_TAG},
            }
        )
        data = _as_dict(endpoint)
        record = WebhookEndpoint.sync_from_stripe_data(data)
        record.secret = data["secret"]
        record.djstripe_uuid = djstripe_uuid
        record.save(update_fields=["secret", "djstripe_uuid"])
        self.result.webhook_endpoint_id = record.id

    def mirror(self) -> None:
        """Copy products, prices and features into dj-stripe's tables."""
        for feature in self.client.v1.entitlements.features.list({"limit": 100}).auto_paging_iter():
            Feature.sync_from_stripe_data(feature)
        for product in self.client.v1.products.list({"limit": 100}).auto_paging_iter():
            if _meta(product).get("catalog_plan"):
                Product.sync_from_stripe_data(product)
                for pf in self.client.v1.products.features.list(
                    product.id, {"limit": 100}
                ).auto_paging_iter():
                    data = _as_dict(pf)
                    data["product"] = product.id
                    ProductFeature.sync_from_stripe_data(data)
                for price in self.client.v1.prices.list(
                    {"product": product.id, "limit": 100}
                ).auto_paging_iter():
                    Price.sync_from_stripe_data(price)

    def subscribers_of(self, product: Any) -> set[str]:
        """Customers with a subscription (not canceled) to any price of ``product``."""
        customers: set[str] = set()
        prices = self.client.v1.prices.list({"product": product.id, "limit": 100})
        for price in prices.auto_paging_iter():
            subs = self.client.v1.subscriptions.list({"price": price.id, "limit": 100})
            for sub in subs.auto_paging_iter():
                customer = sub.customer
                customers.add(customer if isinstance(customer, str) else customer.id)
        return customers

    def entitlements_refresh(self, products: dict[str, Any]) -> None:
        """Re-read the entitlements of the subscribers of plans whose features changed.

        ``entitlements_sync`` stores what Stripe says now and bumps each user's
        billing version, so no process keeps serving access cached before the
        change; the access itself follows the catalog (``access.plan_features``).
        """
        customers: set[str] = set()
        for plan_key in sorted(self._features_changed):
            customers |= self.subscribers_of(products[plan_key])
        for customer_id in sorted(customers):
            entitlements_sync(customer_id=customer_id)
        self.result.entitlements_refreshed = sorted(customers)
        if customers:
            logger.info(
                "billing_bootstrap: features of %s changed; refreshed %d customer(s)",
                ", ".join(sorted(self._features_changed)),
                len(customers),
            )

    def run(self) -> BootstrapResult:
        features = self.features()
        products = self.products()
        prices: dict[str, list[Any]] = {}
        for plan in self.catalog.paid_plans:
            product = products[plan.key]
            self.product_features(plan, product, features)
            prices[plan.key] = self.prices(plan, product)
        usage_catalog_ensure(self)
        credit_packs_ensure(self)
        self.portal_configuration(products, prices)
        self.retention_coupon()
        self.webhook_endpoint()
        if not self.dry_run:
            self.mirror()
            usage_catalog_mirror(self)
            credit_packs_mirror(self)
            self.entitlements_refresh(products)
        return self.result


def _portal_product(plan: PlanSpec, product: Any, prices: list[Any]) -> dict[str, Any]:
    """A product the portal may switch to; a per-seat plan's quantity is adjustable there.

    ``adjustable_quantity`` (portal configuration API, since 2025-07-30.basil) lets
    the customer buy seats in advance in the portal, within the plan's limits. The
    portal cannot know the team's member count: a quantity below it is raised back
    by the seat sync (subscriptions/changes/seats.py).
    """
    entry: dict[str, Any] = {"product": product.id, "prices": [p.id for p in prices]}
    if plan.seats is not None:
        adjustable: dict[str, Any] = {"enabled": True, "minimum": plan.seats.minimum}
        if plan.seats.maximum is not None:
            adjustable["maximum"] = plan.seats.maximum
        entry["adjustable_quantity"] = adjustable
    return entry


def _meta(obj: Any) -> dict[str, Any]:
    metadata = getattr(obj, "metadata", None)
    return metadata.to_dict() if metadata is not None else {}


def _is_placeholder(obj: Any) -> bool:
    """A stand-in made by a dry run: it does not exist in Stripe."""
    return str(obj.id).startswith("dryrun_")


def _price_matches(price: Any, spec: PriceSpec, currency: str) -> bool:
    recurring = price.recurring
    return bool(
        price.unit_amount == spec.amount
        and price.currency == currency
        and recurring is not None
        and recurring.interval == spec.interval
        and recurring.interval_count == spec.interval_count
        and (price.tax_behavior or "unspecified") == spec.tax_behavior
    )


def _describe(spec: PriceSpec, catalog: Catalog) -> str:
    every = spec.interval if spec.interval_count == 1 else f"{spec.interval_count} {spec.interval}s"
    tax = "" if spec.tax_behavior == "unspecified" else f", tax {spec.tax_behavior}"
    return f"{spec.amount} {catalog.currency}/{every}{tax}"


def _describe_price(price: Any) -> str:
    recurring = price.recurring
    every = recurring.interval if recurring else "once"
    behavior = price.tax_behavior or "unspecified"
    tax = "" if behavior == "unspecified" else f", tax {behavior}"
    return f"{price.unit_amount} {price.currency}/{every}{tax}"


def billing_bootstrap(*, dry_run: bool = False, site_url: str | None = None) -> BootstrapResult:
    """Make Stripe match the catalog; returns what was (or would be) changed."""
    return Bootstrap(
        catalog=get_catalog(), site_url=site_url or settings.SITE_URL, dry_run=dry_run
    ).run()
