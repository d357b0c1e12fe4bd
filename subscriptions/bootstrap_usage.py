"""The usage part of ``billing_bootstrap``: Billing Meters and the metered prices on them.

Stripe's usage-based billing (docs.stripe.com/billing/subscriptions/usage-based):
a Meter sums the meter events sent with its ``event_name`` per customer (the
``stripe_customer_id`` key of the payload, ``customer_mapping.type=by_id``);
a recurring price with ``usage_type=metered`` and ``recurring.meter`` bills
that total at the end of each period. Meters are found again by event name
(Stripe refuses a second meter with the same one), their products by
``metadata.catalog_meter``, their prices by lookup key; a price whose pricing
changed is replaced by a new one that takes over the lookup key, as for plan
prices. A second run changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .bootstrap_products import tagged_product_ensure, tagged_products, tagged_products_mirror
from .catalog import CATALOG_TAG, MeteredPriceSpec

if TYPE_CHECKING:
    from .bootstrap import Bootstrap

META_KEY = "catalog_meter"


def meters_ensure(boot: Bootstrap) -> dict[str, Any]:
    """The Stripe meter of each catalog meter, created when missing (by event name)."""
    existing = {
        m.event_name: m
        for m in boot.client.v1.billing.meters.list({"limit": 100}).auto_paging_iter()
    }
    result: dict[str, Any] = {}
    for spec in boot.catalog.meters.values():
        meter = existing.get(spec.event_name)
        if meter is None:
            boot._change("create", "meter", f"{spec.event_name} (sum per stripe_customer_id)")
            meter = boot._write(
                {"id": "mtr", "event_name": spec.event_name},
                boot.client.v1.billing.meters.create,
                {
                    "display_name": spec.name,
                    "event_name": spec.event_name,
                    "default_aggregation": {"formula": "sum"},
                    "customer_mapping": {
                        "event_payload_key": "stripe_customer_id",
                        "type": "by_id",
                    },
                    "value_settings": {"event_payload_key": "value"},
                },
                boot._idem("meter", spec.event_name),
            )
        elif meter.status != "active":
            boot._change("update", "meter", f"{spec.event_name}: reactivated")
            meter = boot._write(
                {"id": meter.id, "event_name": spec.event_name},
                boot.client.v1.billing.meters.reactivate,
                meter.id,
            )
        elif meter.display_name != spec.name:
            boot._change("update", "meter", f"{spec.event_name}: display name")
            meter = boot._write(
                {"id": meter.id, "event_name": spec.event_name},
                boot.client.v1.billing.meters.update,
                meter.id,
                {"display_name": spec.name},
            )
        result[spec.key] = meter
    return result


def meter_products_ensure(boot: Bootstrap) -> dict[str, Any]:
    """One product per meter, holding its metered prices (the invoice line's name)."""
    existing = tagged_products(boot, META_KEY)
    return {
        spec.key: tagged_product_ensure(
            boot,
            existing.get(spec.key),
            meta_key=META_KEY,
            key=spec.key,
            name=spec.name,
            label="meter",
        )
        for spec in boot.catalog.meters.values()
    }


def _tiers_of(price: Any) -> list[dict[str, Any]]:
    tiers = []
    for tier in price.get("tiers") or []:
        row = {"up_to": tier.get("up_to") if tier.get("up_to") is not None else "inf"}
        decimal = tier.get("unit_amount_decimal")
        if decimal is not None and str(decimal) not in ("0", str(tier.get("unit_amount"))):
            row["unit_amount_decimal"] = format(float(decimal), "g")
        else:
            row["unit_amount"] = tier.get("unit_amount") or 0
        tiers.append(row)
    return tiers


def _metered_price_matches(
    price: Any, spec: MeteredPriceSpec, meter_id: str, currency: str
) -> bool:
    recurring = price.recurring
    if (
        price.currency != currency
        or recurring is None
        or recurring.usage_type != "metered"
        or recurring.meter != meter_id
        or recurring.interval != spec.interval
        or (price.tax_behavior or "unspecified") != spec.tax_behavior
    ):
        return False
    wanted = spec.stripe_pricing()
    if wanted["billing_scheme"] == "per_unit":
        return bool(price.billing_scheme == "per_unit" and price.unit_amount == spec.unit_amount)
    wanted_tiers = [
        {**t, "unit_amount_decimal": format(float(t["unit_amount_decimal"]), "g")}
        if "unit_amount_decimal" in t
        else t
        for t in wanted["tiers"]
    ]
    return bool(
        price.billing_scheme == "tiered"
        and price.tiers_mode == "graduated"
        and _tiers_of(price.to_dict()) == wanted_tiers
    )


def _metered_price_create(
    boot: Bootstrap, spec: MeteredPriceSpec, product: Any, meter_id: str, *, transfer: bool
) -> Any:
    params: dict[str, Any] = {
        "product": product.id,
        "currency": boot.catalog.currency,
        "recurring": {"interval": spec.interval, "usage_type": "metered", "meter": meter_id},
        "lookup_key": spec.lookup_key,
        "metadata": {"source": CATALOG_TAG, "catalog_meter": spec.meter},
        **spec.stripe_pricing(),
    }
    if spec.tax_behavior != "unspecified":  # Stripe Tax needs it on every price it taxes
        params["tax_behavior"] = spec.tax_behavior
    if transfer:
        params["transfer_lookup_key"] = True
    return boot._write(
        {"id": "price", "lookup_key": spec.lookup_key},
        boot.client.v1.prices.create,
        params,
        boot._idem("metered-price", product.id, meter_id, repr(sorted(params.items()))),
    )


def metered_prices_ensure(
    boot: Bootstrap, products: dict[str, Any], meters: dict[str, Any]
) -> None:
    """Each catalog metered price on its meter's product; a changed one replaced."""
    for spec in boot.catalog.metered_prices.values():
        product, meter = products[spec.meter], meters[spec.meter]
        found = boot.client.v1.prices.list(
            {"lookup_keys": [spec.lookup_key], "limit": 1, "expand": ["data.tiers"]}
        ).data
        price = found[0] if found else None
        if price is not None and price.active and price.product == product.id:
            if _metered_price_matches(price, spec, meter.id, boot.catalog.currency):
                continue
            boot._change("create", "price", f"{spec.lookup_key}: pricing changed (key transferred)")
            _metered_price_create(boot, spec, product, meter.id, transfer=True)
            boot._change("archive", "price", f"{price.id} (was {spec.lookup_key})")
            boot._write({"id": price.id}, boot.client.v1.prices.update, price.id, {"active": False})
            continue
        boot._change("create", "price", f"{spec.lookup_key} (metered on {spec.meter})")
        _metered_price_create(boot, spec, product, meter.id, transfer=price is not None)


def usage_catalog_ensure(boot: Bootstrap) -> None:
    """Meters, their products and the metered prices, as the catalog declares them."""
    if not boot.catalog.meters:
        return
    meters = meters_ensure(boot)
    products = meter_products_ensure(boot)
    metered_prices_ensure(boot, products, meters)


def usage_catalog_mirror(boot: Bootstrap) -> None:
    """dj-stripe's copies of the meters' products and prices (Checkout reads prices there)."""
    tagged_products_mirror(boot, META_KEY, boot.catalog.meters)
