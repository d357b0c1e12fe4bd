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

from .bootstrap_products import tagged_product_ensure, tagged_products, tagged_products_mirror
from .catalog import CATALOG_TAG, CreditPackSpec

if TYPE_CHECKING:
    from .bootstrap import Bootstrap

META_KEY = "catalog_credit_pack"


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
            META_KEY: spec.lookup_key,
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
    products = tagged_products(boot, META_KEY)
    for spec in boot.catalog.credit_packs.values():
        product = tagged_product_ensure(
            boot,
            products.get(spec.lookup_key),
            meta_key=META_KEY,
            key=spec.lookup_key,
            name=spec.name,
            label="credit pack",
        )
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
    tagged_products_mirror(boot, META_KEY, boot.catalog.credit_packs)
