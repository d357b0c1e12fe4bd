"""The credit-pack part of ``billing_bootstrap``: one product and one one-time price per pack.

A credit pack is sold once through Checkout in payment mode, so its price has no
``recurring`` (docs.stripe.com/api/prices/create: "one_time" type when
``recurring`` is omitted). Products are found again by ``metadata.catalog_credit_pack``,
prices by lookup key; a pack whose amount or tax behavior changed gets a new price
that takes over the lookup key (``transfer_lookup_key``) and the old one is
archived, as for plan prices. A second run changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from djstripe.models import Price, Product

from .catalog import CATALOG_TAG, CreditPackSpec

if TYPE_CHECKING:
    from .bootstrap import Bootstrap


def _pack_products(boot: Bootstrap) -> dict[str, Any]:
    existing: dict[str, Any] = {}
    for product in boot.client.v1.products.list({"limit": 100}).auto_paging_iter():
        meta = product.metadata.to_dict() if product.metadata else {}
        key = meta.get("catalog_credit_pack")
        if key and (key not in existing or product.active):
            existing[key] = product
    return existing


def _pack_product_ensure(boot: Bootstrap, spec: CreditPackSpec, product: Any | None) -> Any:
    if product is None:
        boot._change("create", "product", f"credit pack {spec.lookup_key} ({spec.name})")
        return boot._write(
            {"id": "prod", "name": spec.name, "active": True},
            boot.client.v1.products.create,
            {
                "name": spec.name,
                "metadata": {"catalog_credit_pack": spec.lookup_key, "source": CATALOG_TAG},
            },
            boot._idem("credit-pack-product", spec.lookup_key),
        )
    if product.name != spec.name or not product.active:
        boot._change("update", "product", f"credit pack {spec.lookup_key}: name/active")
        return boot._write(
            {"id": product.id, "name": spec.name, "active": True},
            boot.client.v1.products.update,
            product.id,
            {"name": spec.name, "active": True},
        )
    return product


def _pack_price_matches(price: Any, spec: CreditPackSpec, currency: str) -> bool:
    return bool(
        price.recurring is None
        and price.unit_amount == spec.amount
        and price.currency == currency
        and (price.tax_behavior or "unspecified") == spec.tax_behavior
    )


def _pack_price_create(
    boot: Bootstrap, spec: CreditPackSpec, product: Any, *, transfer: bool
) -> Any:
    params: dict[str, Any] = {
        "product": product.id,
        "currency": boot.catalog.currency,
        "unit_amount": spec.amount,
        "lookup_key": spec.lookup_key,
        "metadata": {
            "source": CATALOG_TAG,
            "catalog_credit_pack": spec.lookup_key,
            "credits": str(spec.credits),
        },
    }
    if spec.tax_behavior != "unspecified":  # Stripe Tax needs it on every price it taxes
        params["tax_behavior"] = spec.tax_behavior
    if transfer:
        params["transfer_lookup_key"] = True
    return boot._write(
        {"id": "price", "lookup_key": spec.lookup_key},
        boot.client.v1.prices.create,
        params,
        boot._idem("credit-pack-price", product.id, repr(sorted(params.items()))),
    )


def credit_packs_ensure(boot: Bootstrap) -> None:
    """Each catalog credit pack as a product with its one-time price."""
    if not boot.catalog.credit_packs:
        return
    products = _pack_products(boot)
    for spec in boot.catalog.credit_packs.values():
        product = _pack_product_ensure(boot, spec, products.get(spec.lookup_key))
        found = boot.client.v1.prices.list({"lookup_keys": [spec.lookup_key], "limit": 1}).data
        price = found[0] if found else None
        if price is not None and price.active and price.product == product.id:
            if _pack_price_matches(price, spec, boot.catalog.currency):
                continue
            boot._change("create", "price", f"{spec.lookup_key}: amount changed (key transferred)")
            _pack_price_create(boot, spec, product, transfer=True)
            boot._change("archive", "price", f"{price.id} (was {spec.lookup_key})")
            boot._write({"id": price.id}, boot.client.v1.prices.update, price.id, {"active": False})
            continue
        boot._change(
            "create", "price", f"{spec.lookup_key} ({spec.amount} {boot.catalog.currency}, once)"
        )
        _pack_price_create(boot, spec, product, transfer=price is not None)


def credit_packs_mirror(boot: Bootstrap) -> None:
    """dj-stripe's copies of the packs' products and prices (Checkout reads prices there)."""
    for key, product in _pack_products(boot).items():
        if key not in boot.catalog.credit_packs:
            continue
        Product.sync_from_stripe_data(product)
        for price in boot.client.v1.prices.list(
            {"product": product.id, "limit": 100}
        ).auto_paging_iter():
            Price.sync_from_stripe_data(price)
