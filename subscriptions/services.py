"""Billing writes. Every Stripe API call of the app lives in this module.

Stripe calls happen outside database transactions; their results are then
mirrored locally with dj-stripe's ``sync_from_stripe_data``. Every create
carries an idempotency key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import stripe
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from djstripe.models import Customer, Price, Subscription

from . import selectors
from . import status as subscription_status
from .access.access import access_invalidate
from .catalog import get_catalog
from .models import CustomerEntitlements, MirrorWatermark, TestClockTime
from .status import SubscriptionStatus
from .stripe_budget import background_http_client
from .tax.tax import checkout_tax_params

if TYPE_CHECKING:
    from djstripe.models.base import StripeModel

    from accounts.models import User
    from teams.models import Team

logger = logging.getLogger(__name__)

# A double click inside this window re-uses the first Checkout Session.
CHECKOUT_IDEMPOTENCY_WINDOW_SECONDS = 600
# The plan a visitor picked before signing up (accounts.adapter sends them on to it).
PENDING_PRICE_SESSION_KEY = "billing_pending_price"
# Returning from the Customer Portal re-reads Stripe at most once per user in this window.
PORTAL_RETURN_SYNC_SECONDS = 10
# A failed invoice paid this soon after the team opened the portal was paid through it
# (subscriptions.dunning: how revenue was recovered).
PORTAL_OPENED_SECONDS = 3600


class BillingError(Exception):
    """A billing action could not be done; ``user_message`` is safe to show."""

    user_message = "Billing is unavailable right now. Please try again in a minute."


class UnknownPrice(BillingError):
    user_message = "That plan does not exist or is no longer sold."


class SessionNotFound(BillingError):
    user_message = "Checkout session not found."


class NoCustomer(BillingError):
    user_message = "You have no billing account yet. Choose a plan first."


class StripeUnavailable(BillingError):
    """Network failure, rate limit or a Stripe-side error: worth a retry."""


class AlreadySubscribed(BillingError):
    user_message = "You have just subscribed. Your plan is on the billing page."


def stripe_client() -> stripe.StripeClient:
    """A client on the configured key, pinned API version and base (emulator or Stripe)."""
    base = settings.STRIPE_API_BASE
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        stripe_version=settings.STRIPE_API_VERSION,
        base_addresses={"api": base} if base else {},
        max_network_retries=2,
        # In a worker: within the background budget of Stripe requests (None on the web).
        http_client=background_http_client(),
    )


def _as_dict(obj: Any) -> dict[str, Any]:
    """A StripeObject as the JSON Stripe sent (stripe-python 15 objects are not dicts).

    The SDK turns decimal strings into ``Decimal``; they go back to strings so
    the dict can be stored in dj-stripe's JSON columns.
    """
    if isinstance(obj, dict):
        return obj
    result: dict[str, Any] = json.loads(str(obj))  # StripeObject's str() is its JSON
    return result


def _key(*parts: object) -> str:
    """An idempotency key (Stripe allows 255 characters) from stable parts."""
    raw = ":".join(str(p) for p in parts)
    return f"saas-{hashlib.sha256(raw.encode()).hexdigest()[:48]}"


def _translate(exc: stripe.StripeError) -> BillingError:
    if isinstance(exc, stripe.InvalidRequestError):
        error = BillingError(str(exc.user_message or exc))
        error.user_message = "Stripe rejected the request. Please try again or contact support."
        return error
    return StripeUnavailable(str(exc))


# --- Customers -----------------------------------------------------------------


def team_url(team: Team, name: str) -> str:
    """The absolute URL of one of the team's billing pages (for Stripe's redirects)."""
    return f"{settings.SITE_URL}{reverse(name, kwargs={'team_slug': team.slug})}"


def customer_get_or_create(*, team: Team, email: str = "") -> Customer:
    """The team's Stripe customer, created once (billing email, team id in metadata).

    ``djstripe_team`` (``DJSTRIPE_SUBSCRIBER_CUSTOMER_KEY``) lets dj-stripe attach
    the customer to the team when it syncs it. With the emulator the customer is
    attached to a test clock of its own, so the developer page can move that
    customer's time forward.
    """
    existing = selectors.customer_for_team(team=team)
    if existing is not None:
        return existing
    client = stripe_client()
    params: dict[str, Any] = {
        "email": team.email or email,
        "name": team.name,
        "metadata": {
            "team_id": str(team.pk),
            settings.DJSTRIPE_SUBSCRIBER_CUSTOMER_KEY: str(team.pk),
        },
    }
    try:
        if settings.STRIPE_EMULATOR:
            clock = client.v1.test_helpers.test_clocks.create(
                {"frozen_time": int(time.time()), "name": f"team {team.pk}"},
                {"idempotency_key": _key("clock", "team", team.pk, settings.STRIPE_SECRET_KEY)},
            )
            params["test_clock"] = clock.id
        stripe_customer = client.v1.customers.create(
            params,  # type: ignore[arg-type]
            # "team" in the key: a user's customer created under the same number before
            # teams existed must not be replayed for the team.
            {"idempotency_key": _key("customer", "team", team.pk, settings.STRIPE_LIVE_MODE)},
        )
    except stripe.StripeError as exc:
        logger.warning("customer create failed for team %s: %s", team.pk, exc)
        raise _translate(exc) from exc
    try:
        with transaction.atomic():
            customer = Customer.sync_from_stripe_data(stripe_customer)
            customer.subscriber = team
            customer.save(update_fields=["subscriber"])
    except IntegrityError:
        # A concurrent request synced the same customer first.
        customer = Customer.objects.get(id=stripe_customer.id)
    logger.info("stripe customer %s ready for team %s", customer.id, team.pk)
    return customer


# --- Checkout -----------------------------------------------------------------------


def price_for_checkout(*, lookup_key: str) -> Price:
    """The active, recurring catalog price with ``lookup_key`` from the mirror."""
    if not lookup_key or get_catalog().price(lookup_key) is None:
        raise UnknownPrice(lookup_key)
    price = (
        Price.objects.filter(stripe_data__lookup_key=lookup_key, livemode=settings.STRIPE_LIVE_MODE)
        .order_by("-created")
        .first()
    )
    if (
        price is None
        or not price.stripe_data.get("active")
        or not price.stripe_data.get("recurring")
    ):
        raise UnknownPrice(lookup_key)
    return price


def metered_line_items(*, lookup_key: str) -> list[dict[str, Any]]:
    """The metered prices that go beside the plan price ``lookup_key`` in Checkout.

    A metered line item has no quantity: Stripe bills the meter's total for the
    period (docs.stripe.com/payments/checkout: omit ``quantity`` for metered).
    """
    spec = get_catalog().price(lookup_key)
    items = []
    for metered_key in spec.metered if spec else ():
        price = (
            Price.objects.filter(
                stripe_data__lookup_key=metered_key, livemode=settings.STRIPE_LIVE_MODE
            )
            .order_by("-created")
            .first()
        )
        if price is None or not price.stripe_data.get("active"):
            # The catalog sells this plan with its usage: no checkout without it.
            raise UnknownPrice(metered_key)
        items.append({"price": price.id})
    return items


def checkout_session_create(
    *, team: Team, user: User, price_lookup_key: str, quantity: int = 1
) -> str:
    """Create a subscription Checkout Session for ``team``, opened by ``user``; returns its URL.

    ``quantity`` is the number of seats of a per-seat plan (checked by the caller,
    ``seats.seats_checkout_quantity``); 1 otherwise.
    """
    price = price_for_checkout(lookup_key=price_lookup_key)
    plan = get_catalog().plan_for_lookup_key(price_lookup_key)
    assert plan is not None  # price_for_checkout checked the catalog
    customer = customer_get_or_create(team=team, email=user.email)
    metadata = {
        "team_id": str(team.pk),
        "user_id": str(user.pk),
        "price_lookup_key": price_lookup_key,
    }
    if plan.is_per_seat:
        metadata["seats"] = str(quantity)
    subscription_data: dict[str, Any] = {"metadata": metadata}
    success_url = team_url(team, "billing_success") + "?session_id={CHECKOUT_SESSION_ID}"
    params: dict[str, Any] = {
        "mode": "subscription",
        "customer": customer.id,
        # The team: the success page checks the session is this team's.
        "client_reference_id": str(team.pk),
        "line_items": [
            {"price": price.id, "quantity": quantity},
            *metered_line_items(lookup_key=price_lookup_key),
        ],
        "success_url": success_url,
        "cancel_url": f"{settings.SITE_URL}/pricing/",
        "metadata": metadata,
        "allow_promotion_codes": True,
        "subscription_data": subscription_data,
    }
    params.update(checkout_tax_params())
    if plan.trial_days and not selectors.customer_had_subscription(customer=customer):
        subscription_data["trial_period_days"] = plan.trial_days
        if not plan.trial_requires_payment_method:
            params["payment_method_collection"] = "if_required"
            subscription_data["trial_settings"] = {
                "end_behavior": {"missing_payment_method": "cancel"}
            }
    window = int(time.time()) // CHECKOUT_IDEMPOTENCY_WINDOW_SECONDS
    idempotency_key = _key("checkout", team.pk, customer.id, price.id, quantity, window)
    client = stripe_client()
    try:
        session = client.v1.checkout.sessions.create(
            params,  # type: ignore[arg-type]
            {"idempotency_key": idempotency_key},
        )
        # One open Checkout per customer: the newest one wins, the others expire
        # (a second tab can then no longer be paid).
        if not _checkout_sessions_expire_others(client, customer_id=customer.id, keep=session.id):
            # A double click inside the idempotency window replays the first
            # session, which a checkout in another tab may have expired since.
            replayed = client.v1.checkout.sessions.retrieve(session.id)
            if replayed.status == "complete":
                raise AlreadySubscribed(session.id)
            session = client.v1.checkout.sessions.create(
                params,  # type: ignore[arg-type]
                {"idempotency_key": _key("checkout", idempotency_key, "after", session.id)},
            )
            _checkout_sessions_expire_others(client, customer_id=customer.id, keep=session.id)
    except stripe.StripeError as exc:
        # Logged once, by the view that answers the user (with this cause chained).
        raise _translate(exc) from exc
    logger.info(
        "checkout session %s created: team=%s user=%s customer=%s price=%s (%s)",
        session.id,
        team.pk,
        user.pk,
        customer.id,
        price.id,
        price_lookup_key,
    )
    if not session.url:
        raise BillingError("Stripe returned a Checkout Session without a URL")
    return session.url


def _checkout_sessions_expire_others(
    client: stripe.StripeClient, *, customer_id: str, keep: str
) -> bool:
    """Expire the customer's open Checkout Sessions other than ``keep``.

    Stripe lets only ``open`` sessions be expired, and an expired one can no
    longer be completed. A session that completes or expires between the list
    and the expire answers an error, which is fine: it is not open any more.
    Returns whether ``keep`` itself is still open.
    """
    kept_open = False
    sessions = client.v1.checkout.sessions.list(
        {"customer": customer_id, "status": "open", "limit": 100}
    )
    for other in sessions.auto_paging_iter():
        if other.id == keep:
            kept_open = True
            continue
        try:
            client.v1.checkout.sessions.expire(other.id)
        except stripe.InvalidRequestError as exc:
            logger.info(
                "checkout session %s of customer %s not expired: %s", other.id, customer_id, exc
            )
            continue
        logger.info(
            "checkout session %s of customer %s expired: %s replaces it",
            other.id,
            customer_id,
            keep,
        )
    return kept_open


@dataclass(frozen=True)
class CheckoutOutcome:
    state: Literal["ready", "action_required", "processing", "unpaid"]
    subscription_status: str | None = None
    # Where the customer finishes a payment that needs action (3-D Secure).
    action_url: str | None = None


def checkout_success_sync(*, team: Team, session_id: str) -> CheckoutOutcome:
    """Sync the session's subscription now, so access is immediate.

    Raises ``SessionNotFound`` when the session does not exist or belongs to
    another team (the caller answers 404 without saying which).
    """
    if not session_id.startswith("cs_") or len(session_id) > 255:
        raise SessionNotFound(session_id)
    customer = selectors.customer_for_team(team=team)
    if customer is None:
        raise SessionNotFound(session_id)
    client = stripe_client()
    try:
        session = client.v1.checkout.sessions.retrieve(
            session_id, {"expand": ["subscription", "subscription.latest_invoice"]}
        )
    except stripe.InvalidRequestError as exc:
        raise SessionNotFound(session_id) from exc
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    session_customer = session.customer if isinstance(session.customer, str) else None
    if session_customer != customer.id or session.client_reference_id != str(team.pk):
        logger.warning(
            "team %s opened checkout session %s of customer %s",
            team.pk,
            session_id,
            session_customer,
        )
        raise SessionNotFound(session_id)
    sub = session.subscription
    if sub is None or isinstance(sub, str):
        state: Literal["processing", "unpaid"] = (
            "processing" if session.status == "complete" else "unpaid"
        )
        return CheckoutOutcome(state=state)
    try:
        # dj-stripe wants the SDK's objects (it pages through nested lists itself).
        subscription_sync_data(data=sub)
        _mirror_related(client, sub)
        entitlements_sync(customer_id=customer.id)
        if settings.BILLING_TAX_ID_COLLECTION:  # Checkout may have added a tax ID
            customer_tax_ids_sync(client, customer=customer)
    except Exception:
        # The webhooks will bring the same state; the page asks again in a moment.
        logger.exception("syncing subscription %s after checkout failed", sub.id)
        return CheckoutOutcome(state="processing", subscription_status=sub.status)
    finally:
        access_invalidate(team=team)  # this request's page shows the new plan too
    status = sub.status
    if status in subscription_status.ACCESS:
        return CheckoutOutcome(state="ready", subscription_status=status)
    if status == SubscriptionStatus.INCOMPLETE:
        invoice = sub.latest_invoice
        url = getattr(invoice, "hosted_invoice_url", None) if invoice else None
        return CheckoutOutcome(state="action_required", subscription_status=status, action_url=url)
    return CheckoutOutcome(state="processing", subscription_status=status)


# --- Mirror sync --------------------------------------------------------------------


def _mirror_related(client: stripe.StripeClient, sub: Any) -> None:
    """Mirror the subscription's latest invoice and payment method for the billing page."""
    from djstripe.models import Invoice, PaymentMethod

    invoice = getattr(sub, "latest_invoice", None)
    pm = getattr(sub, "default_payment_method", None)
    try:
        if isinstance(invoice, str):
            invoice = client.v1.invoices.retrieve(invoice)
        if invoice is not None:
            mirror_read(Invoice, invoice)
        if isinstance(pm, str):
            pm = client.v1.payment_methods.retrieve(pm)
        if pm is not None:
            mirror_read(PaymentMethod, pm)
    except stripe.StripeError as exc:
        # The webhooks bring these too; the page shows what is there.
        logger.warning("mirroring invoice/payment method of %s failed: %s", sub.id, exc)


def mirror_read(model: type[StripeModel], data: Any) -> Any:
    """Mirror an object just read from (or returned by) Stripe, outside any event.

    The read is not ordered against the object's queued events, so the
    object's watermark is cleared in the same transaction: an event being
    processed for it finishes first, and the next one reads Stripe instead of
    applying a payload that may be older than this read.
    """
    with transaction.atomic():
        MirrorWatermark.objects.forget(str(data["id"]))
        return model.sync_from_stripe_data(data)


def subscription_sync_data(*, data: Any) -> Subscription:
    """Mirror a subscription (an SDK object) and refresh its team's access."""
    with transaction.atomic():
        subscription: Subscription = mirror_read(Subscription, data)
        team_id = subscription.customer.subscriber_id if subscription.customer_id else None
        if team_id:
            access_invalidate(team_id=team_id)
    return subscription


def subscription_sync(*, subscription_id: str) -> Subscription:
    """Re-read a subscription from Stripe and mirror it."""
    try:
        data = stripe_client().v1.subscriptions.retrieve(subscription_id)
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    return subscription_sync_data(data=data)


def entitlements_sync(*, customer_id: str) -> frozenset[str]:
    """List the customer's active entitlements in Stripe and store their lookup keys."""
    client = stripe_client()
    try:
        page = client.v1.entitlements.active_entitlements.list(
            {"customer": customer_id, "limit": 100}
        )
        keys = frozenset(e.lookup_key for e in page.auto_paging_iter())
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    CustomerEntitlements.objects.update_or_create(
        customer_id=customer_id,
        defaults={"lookup_keys": sorted(keys), "synced_at": timezone.now()},
    )
    customer = Customer.objects.filter(id=customer_id).only("subscriber_id").first()
    if customer is not None and customer.subscriber_id:
        access_invalidate(team_id=customer.subscriber_id)
    return keys


def customer_sync_all(*, team: Team) -> None:
    """Re-read the team's customer, subscriptions and invoices from Stripe."""
    customer = selectors.customer_for_team(team=team)
    if customer is None:
        return
    client = stripe_client()
    try:
        subs = client.v1.subscriptions.list(
            {"customer": customer.id, "status": "all", "limit": 100}
        )
        for sub in subs.auto_paging_iter():
            subscription_sync_data(data=sub)
        invoices = client.v1.invoices.list({"customer": customer.id, "limit": 24})
        from djstripe.models import Invoice

        for invoice in invoices.data:
            mirror_read(Invoice, invoice)
        customer_tax_ids_sync(client, customer=customer)
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    entitlements_sync(customer_id=customer.id)


def customer_tax_ids_sync(client: stripe.StripeClient, *, customer: Customer) -> None:
    """Mirror the customer's tax IDs as Stripe has them (Checkout and the portal add them)."""
    from djstripe.models import TaxId

    kept = []
    for tax_id in client.v1.customers.tax_ids.list(customer.id, {"limit": 100}).auto_paging_iter():
        TaxId.sync_from_stripe_data(tax_id)
        kept.append(tax_id.id)
    TaxId.objects.filter(customer=customer).exclude(id__in=kept).delete()


# --- Portal and plan management ---------------------------------------------------

PortalFlow = Literal["payment_method_update", "subscription_cancel"]


def portal_session_create(*, team: Team, flow: PortalFlow | None = None) -> str:
    """A Customer Portal session for the team's own customer; returns its URL."""
    customer = selectors.customer_for_team(team=team)
    if customer is None:
        raise NoCustomer()
    # The return page syncs before showing the billing page: a portal change is
    # visible at once, not only when its webhook has been processed.
    return_url = team_url(team, "billing_portal_return")
    params: dict[str, Any] = {"customer": customer.id, "return_url": return_url}
    if flow == "payment_method_update":
        params["flow_data"] = {"type": "payment_method_update"}
    elif flow == "subscription_cancel":
        current = selectors.subscription_current(team=team)
        if current is not None and (
            current.stripe_data.get("status") not in subscription_status.ENDED
        ):
            params["flow_data"] = {
                "type": "subscription_cancel",
                "subscription_cancel": {"subscription": current.id},
                "after_completion": {"type": "redirect", "redirect": {"return_url": return_url}},
            }
    try:
        session = stripe_client().v1.billing_portal.sessions.create(params)  # type: ignore[arg-type]
    except stripe.StripeError as exc:
        # Logged once, by the view that answers the user (with this cause chained).
        raise _translate(exc) from exc
    logger.info("portal session for customer %s (team %s, flow %s)", customer.id, team.pk, flow)
    cache.set(portal_opened_key(customer.id), 1, timeout=PORTAL_OPENED_SECONDS)
    return session.url


def portal_opened_key(customer_id: str) -> str:
    return f"billing:portal-opened:customer:{customer_id}"


def portal_return_sync(*, team: Team) -> bool:
    """Re-read the team's billing from Stripe once on the way back from the portal.

    A portal change (cancel, plan switch, new card) reaches the app as a webhook a
    few seconds later; this sync makes the billing page right at once. It runs at
    most once per team every ``PORTAL_RETURN_SYNC_SECONDS`` (a reload or a forged
    return link cannot turn page views into Stripe calls). Returns whether it
    synced; a Stripe failure is logged and the page shows the mirror, which the
    webhooks bring up to date.
    """
    customer = selectors.customer_for_team(team=team)
    if customer is None:
        return False
    if not cache.add(
        f"billing:portal-return:team:{team.pk}", 1, timeout=PORTAL_RETURN_SYNC_SECONDS
    ):
        logger.info("portal return of customer %s: synced moments ago, skipped", customer.id)
        return False
    try:
        customer_sync_all(team=team)
        # The card may have changed in the portal: mirror the customer's default and
        # the current subscription's payment method, which the page shows. The
        # subscription and its invoices were just synced above: no second read.
        client = stripe_client()
        mirror_read(Customer, client.v1.customers.retrieve(customer.id))
        current = selectors.subscription_current(team=team)
        pm_id = (current.stripe_data or {}).get("default_payment_method") if current else None
        if isinstance(pm_id, str):
            from djstripe.models import PaymentMethod

            mirror_read(PaymentMethod, client.v1.payment_methods.retrieve(pm_id))
    except (BillingError, stripe.StripeError) as exc:
        logger.warning("portal return sync of customer %s failed: %s", customer.id, exc)
        return False
    finally:
        access_invalidate(team=team)
    logger.info("portal return: customer %s synced for team %s", customer.id, team.pk)
    return True


def subscription_resume_cancellation(*, team: Team, user: User) -> Subscription:
    """Undo a scheduled cancellation (cancel_at_period_end) of the team's subscription."""
    current = selectors.subscription_current(team=team)
    if current is None:
        raise NoCustomer()
    try:
        data = stripe_client().v1.subscriptions.update(
            current.id,
            {"cancel_at_period_end": False},
            {"idempotency_key": _key("resume", current.id, int(time.time()) // 60)},
        )
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    logger.info("subscription %s: scheduled cancellation removed by user %s", current.id, user.pk)
    return subscription_sync_data(data=data)


# --- Development: emulator test clocks -------------------------------------------------


def test_clock_advance(*, team: Team, to: datetime) -> None:
    """Move the team's emulator test clock to ``to`` and re-sync its billing."""
    customer = selectors.customer_for_team(team=team)
    if customer is None:
        raise NoCustomer()
    clock_id = customer.stripe_data.get("test_clock")
    if not clock_id:
        raise BillingError("This customer has no test clock")
    client = stripe_client()
    try:
        client.v1.test_helpers.test_clocks.advance(clock_id, {"frozen_time": int(to.timestamp())})
        for _ in range(600):
            clock = client.v1.test_helpers.test_clocks.retrieve(clock_id)
            if clock.status == "ready":
                break
            time.sleep(0.1)
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    frozen = datetime.fromtimestamp(clock.frozen_time, tz=UTC)
    TestClockTime.objects.update_or_create(clock_id=clock_id, defaults={"frozen_time": frozen})
    customer_sync_all(team=team)


def test_clock_now(*, team: Team) -> datetime | None:
    customer = selectors.customer_for_team(team=team)
    clock_id = customer.stripe_data.get("test_clock") if customer else None
    if not clock_id:
        return None
    try:
        clock = stripe_client().v1.test_helpers.test_clocks.retrieve(clock_id)
    except stripe.StripeError as exc:
        raise _translate(exc) from exc
    return datetime.fromtimestamp(clock.frozen_time, tz=UTC)


# --- Teams -------------------------------------------------------------------------------


def team_subscriptions_cancel_now(*, team: Team) -> int:
    """Cancel the team's live subscriptions in Stripe at once (before the team is deleted).

    Lists them in Stripe (not the mirror, which may lag) and cancels each one
    that has not ended (``DELETE /v1/subscriptions/{id}``, no proration, as
    Stripe's default). Returns how many were canceled; raises ``BillingError``
    when Stripe fails, so the team is not deleted with a live subscription.
    """
    customer = selectors.customer_for_team(team=team)
    if customer is None:
        return 0
    client = stripe_client()
    canceled = 0
    try:
        subs = client.v1.subscriptions.list(
            {"customer": customer.id, "status": "all", "limit": 100}
        )
        for sub in subs.auto_paging_iter():
            if sub.status in subscription_status.ENDED:
                continue
            data = client.v1.subscriptions.cancel(sub.id)
            subscription_sync_data(data=data)
            canceled += 1
            logger.info("subscription %s canceled: team %s is being deleted", sub.id, team.pk)
    except stripe.StripeError as exc:
        logger.warning("canceling subscriptions of team %s failed: %s", team.pk, exc)
        raise _translate(exc) from exc
    return canceled
