"""billing_bootstrap makes the emulator match the catalog, idempotently."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client
from djstripe.models import Customer, Price, WebhookEndpoint

from subscriptions import bootstrap as bootstrap_module
from subscriptions.bootstrap import billing_bootstrap
from subscriptions.catalog import Catalog, get_catalog, parse_catalog
from subscriptions.models import CustomerEntitlements
from subscriptions.services import stripe_client
from teams.selectors import team_personal
from tests.billing_helpers import access_now
from tests.factories import make_user
from tests.subscriptions.conftest import Billing

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def _catalog(**changes: int) -> Catalog:
    """The project's catalog with some prices changed ({lookup_key: new amount or 0 to drop})."""
    import tomllib

    data = tomllib.loads(_raw())
    for plan in data["plans"]:
        prices = []
        for price in plan.get("prices", []):
            amount = changes.get(price["lookup_key"], price["amount"])
            if amount:
                prices.append({**price, "amount": amount})
        plan["prices"] = prices
    return parse_catalog(data)


def _raw() -> str:
    from subscriptions.catalog import CATALOG_PATH

    return CATALOG_PATH.read_text()


def test_second_run_changes_nothing(billing: Billing) -> None:
    result = billing_bootstrap(site_url="http://127.0.0.1:9")
    assert result.changes == []
    out = io.StringIO()
    call_command("billing_bootstrap", "--site-url", "http://127.0.0.1:9", stdout=out)
    assert "Nothing to change" in out.getvalue()


def test_everything_exists_in_stripe_and_the_mirror(billing: Billing) -> None:
    client = stripe_client()
    catalog = get_catalog()
    for plan in catalog.paid_plans:
        for spec in plan.prices:
            found = client.v1.prices.list({"lookup_keys": [spec.lookup_key]}).data
            assert len(found) == 1
            assert found[0].unit_amount == spec.amount
            assert Price.objects.get(lookup_key=spec.lookup_key, active=True).id == found[0].id
        product_id = Price.objects.get(lookup_key=plan.prices[0].lookup_key).product_id
        attached = {
            pf.entitlement_feature.lookup_key
            for pf in client.v1.products.features.list(product_id).data
        }
        assert attached == set(plan.features)
    configs = client.v1.billing_portal.configurations.list({"active": True}).data
    mine = [
        c for c in configs if c.metadata and c.metadata.to_dict().get("source") == "saas-catalog"
    ]
    assert len(mine) == 1
    features = mine[0].features
    assert features.subscription_cancel.mode == "at_period_end"
    assert features.subscription_cancel.cancellation_reason.enabled
    assert features.subscription_update.proration_behavior == "create_prorations"
    assert features.payment_method_update.enabled
    assert features.invoice_history.enabled
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_")
    assert str(endpoint.djstripe_uuid) in endpoint.url


def test_amount_change_moves_lookup_key_and_archives_old_price(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = stripe_client()
    old = client.v1.prices.list({"lookup_keys": ["pro_monthly"]}).data[0]
    monkeypatch.setattr(
        bootstrap_module, "get_catalog", lambda: _catalog(pro_monthly=3900, pro_yearly=0)
    )

    dry = billing_bootstrap(dry_run=True, site_url="http://127.0.0.1:9")
    assert any(c.kind == "price" and "pro_monthly" in c.detail for c in dry.changes)
    assert client.v1.prices.retrieve(old.id).active  # dry run wrote nothing

    result = billing_bootstrap(site_url="http://127.0.0.1:9")
    kinds = [(c.action, c.kind) for c in result.changes]
    assert ("create", "price") in kinds
    assert ("archive", "price") in kinds
    assert ("update", "portal_configuration") in kinds
    new = client.v1.prices.list({"lookup_keys": ["pro_monthly"]}).data[0]
    assert new.id != old.id
    assert new.unit_amount == 3900
    assert client.v1.prices.retrieve(old.id).active is False
    yearly = [
        p
        for p in client.v1.prices.list({"active": True, "limit": 100}).data
        if p.unit_amount == 29000
    ]
    assert yearly == []  # the dropped yearly price was archived
    assert (
        Price.objects.get(lookup_key="pro_monthly", active=True).stripe_data["unit_amount"] == 3900
    )
    assert billing_bootstrap(site_url="http://127.0.0.1:9").changes == []


def _catalog_with_features(**plan_features: list[str]) -> Catalog:
    """The project's catalog with some plans' feature lists replaced ({plan key: [keys]})."""
    import tomllib

    data = tomllib.loads(_raw())
    for plan in data["plans"]:
        if plan["key"] in plan_features:
            plan["features"] = plan_features[plan["key"]]
    return parse_catalog(data)


def _use_catalog(monkeypatch: pytest.MonkeyPatch, catalog: Catalog) -> None:
    """What a deploy with the edited catalog.toml does: every module reads the new file."""
    from subscriptions import selectors
    from subscriptions.access import access

    for module in (bootstrap_module, access, selectors):
        monkeypatch.setattr(module, "get_catalog", lambda: catalog)


def _active_entitlements(customer_id: str) -> set[str]:
    page = stripe_client().v1.entitlements.active_entitlements.list({"customer": customer_id})
    return {e.lookup_key for e in page.data}


def test_feature_added_to_a_plan_reaches_existing_subscribers_after_bootstrap(
    client: Client, billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user()
    client.force_login(user)
    client.get(billing.subscribe(client, "starter_monthly", card=None))
    customer_id = Customer.objects.get(subscriber=team_personal(user=user)).id
    before = access_now(user)  # computed and cached under the current billing version
    assert before.plan_key == "starter"
    assert before.features == {"exports"}
    team = team_personal(user=user)
    assert team is not None
    version = type(team).objects.get(pk=team.pk).billing_version  # the customer is the team

    _use_catalog(monkeypatch, _catalog_with_features(starter=["exports", "api_access"]))
    result = billing_bootstrap(site_url="http://127.0.0.1:9")

    assert [(c.action, c.kind) for c in result.changes] == [("attach", "product_feature")]
    assert result.entitlements_refreshed == [customer_id]
    assert type(team).objects.get(pk=team.pk).billing_version > version
    access = access_now(user)
    assert access.features == {"exports", "api_access"}
    assert access.has("api_access")
    # Stripe adds it to the existing subscription only at its next billing period.
    assert _active_entitlements(customer_id) == {"exports"}
    assert CustomerEntitlements.objects.get(customer_id=customer_id).lookup_keys == ["exports"]
    # A second run has nothing to change and refreshes no one.
    again = billing_bootstrap(site_url="http://127.0.0.1:9")
    assert (again.changes, again.entitlements_refreshed) == ([], [])


def test_feature_removed_from_a_plan_is_lost_after_bootstrap(
    client: Client, billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user()
    client.force_login(user)
    client.get(billing.subscribe(client, "pro_monthly"))
    customer_id = Customer.objects.get(subscriber=team_personal(user=user)).id
    assert access_now(user).has("priority_support")
    bystander = make_user()  # on Starter, whose features do not change
    other = Client()
    other.force_login(bystander)
    other.get(billing.subscribe(other, "starter_monthly", card=None))

    _use_catalog(monkeypatch, _catalog_with_features(pro=["exports", "api_access"]))
    out = io.StringIO()
    call_command("billing_bootstrap", "--site-url", "http://127.0.0.1:9", stdout=out)

    assert "detach   product_feature       priority_support from pro" in out.getvalue()
    assert "access recomputed for 1 subscribed customer(s)" in out.getvalue()
    access = access_now(user)
    assert access.plan_key == "pro"
    assert not access.has("priority_support")
    assert access.features == {"exports", "api_access"}
    # Stripe still lists it until the subscription's next billing period.
    assert "priority_support" in _active_entitlements(customer_id)
    assert access_now(bystander).features == {"exports"}


def test_plan_features_follow_the_catalog_for_managed_features_only() -> None:
    from subscriptions.access.access import plan_features

    managed = frozenset({"exports", "api_access", "old_feature"})
    plan = frozenset({"exports", "api_access"})
    # Never synced: the plan's features.
    assert plan_features(plan_features=plan, entitled=None, managed=managed) == plan
    # Stripe lags the catalog (added api_access, dropped old_feature): the catalog wins.
    stale = frozenset({"exports", "old_feature"})
    assert plan_features(plan_features=plan, entitled=stale, managed=managed) == plan
    # A feature the catalog does not manage comes from Stripe.
    extra = frozenset({"exports", "beta_dashboard"})
    assert plan_features(plan_features=plan, entitled=extra, managed=managed) == plan | {
        "beta_dashboard"
    }


def test_endpoint_with_other_events_is_edited_in_place_keeping_its_secret(
    billing: Billing,
) -> None:
    """A release that listens to more events edits the endpoint; it is never replaced.

    A replacement would change the signing secret and drop the events created
    between the deletion and the creation.
    """
    endpoint = WebhookEndpoint.objects.exclude(secret="").get()
    client = stripe_client()
    client.v1.webhook_endpoints.update(
        endpoint.id, {"enabled_events": ["customer.created"], "disabled": True}
    )

    billing_bootstrap()

    after = WebhookEndpoint.objects.exclude(secret="").get()
    assert (after.id, after.secret) == (endpoint.id, endpoint.secret)
    remote = client.v1.webhook_endpoints.retrieve(endpoint.id)
    assert remote.status == "enabled"
    assert sorted(remote.enabled_events) == sorted(bootstrap_module.WEBHOOK_EVENTS)
    assert len(client.v1.webhook_endpoints.list().data) == 1
