"""Products that ``billing_bootstrap`` finds again by a catalog metadata key.

Meters and credit packs each get a product of their own, tagged
``metadata.<meta_key> = <catalog key>``: found by that tag, created when
missing, renamed or reactivated when the catalog says so, and mirrored into
dj-stripe with their prices.
"""

from __future__ import annotations

from collections.abc import Container
from typing import TYPE_CHECKING, Any

from djstripe.models import Price, Product

from .catalog import CATALOG_TAG

if TYPE_CHECKING:
    from .bootstrap import Bootstrap


def tagged_products(boot: Bootstrap, meta_key: str) -> dict[str, Any]:
    """Stripe's products tagged with ``meta_key``, by tag value (an active one wins)."""
    existing: dict[str, Any] = {}
    for product in boot.client.v1.products.list({"limit": 100}).auto_paging_iter():
        meta = product.metadata.to_dict() if product.metadata else {}
        key = meta.get(meta_key)
        if key and (key not in existing or product.active):
            existing[key] = product
    return existing


def tagged_product_ensure(
    boot: Bootstrap, product: Any | None, *, meta_key: str, key: str, name: str, label: str
) -> Any:
    """``product`` as the catalog names it: created (tagged) when None, else renamed/reactivated."""
    if product is None:
        boot._change("create", "product", f"{label} {key} ({name})")
        return boot._write(
            {"id": "prod", "name": name, "active": True},
            boot.client.v1.products.create,
            {"name": name, "metadata": {meta_key: key, "source": CATALOG_TAG}},
            boot._idem(f"{label.replace(' ', '-')}-product", key),
        )
    if product.name != name or not product.active:
        boot._change("update", "product", f"{label} {key}: name/active")
        return boot._write(
            {"id": product.id, "name": name, "active": True},
            boot.client.v1.products.update,
            product.id,
            {"name": name, "active": True},
        )
    return product


def tagged_products_mirror(boot: Bootstrap, meta_key: str, keys: Container[str]) -> None:
    """dj-stripe's copies of the tagged products in ``keys`` and their prices."""
    for key, product in tagged_products(boot, meta_key).items():
        if key not in keys:
            continue
        Product.sync_from_stripe_data(product)
        for price in boot.client.v1.prices.list(
            {"product": product.id, "limit": 100}
        ).auto_paging_iter():
            Price.sync_from_stripe_data(price)
