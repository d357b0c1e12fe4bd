"""The emulator uses only what the stripe SDK exports publicly.

The SDK's underscore modules (`stripe._stripe_object`, `stripe._object_classes`,
...) are internals that a minor release may move; the emulator reads the public
`stripe` namespace, `stripe.params` and the resource classes' `OBJECT_NAME`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import stripe

import stripe_emulator
from stripe_emulator import conformance, params

PACKAGE_DIR = Path(stripe_emulator.__file__).parent


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_sdk_uses(source: str) -> list[str]:
    """`stripe._x` imports, `from stripe import _x`, and "stripe._x" strings (importlib)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("stripe._")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("stripe._"):
                found.append(node.module)
            elif node.module.split(".")[0] == "stripe":
                found += [f"{node.module}.{a.name}" for a in node.names if _private(a.name)]
        elif (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id == "stripe"
        ):
            found.append(f"stripe.{node.attr}")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith("stripe._")
        ):
            found.append(node.value)
    return found


def test_private_sdk_uses_are_detected() -> None:
    source = (
        "import stripe._customer\n"
        "from stripe._object_classes import OBJECT_CLASSES\n"
        "from stripe import _util\n"
        "x = stripe._api_requestor\n"
        "importlib.import_module('stripe._request_options')\n"
        "from stripe import StripeObject, RequestOptions\n"
        "from stripe.params import CustomerCreateParams\n"
        "y = stripe.__path__\n"
    )
    assert private_sdk_uses(source) == [
        "stripe._customer",
        "stripe._object_classes",
        "stripe._util",
        "stripe._api_requestor",
        "stripe._request_options",
    ]


def test_emulator_imports_no_private_sdk_module() -> None:
    files = sorted(PACKAGE_DIR.rglob("*.py"))
    assert len(files) > 30
    offenders = {
        str(path.relative_to(PACKAGE_DIR)): uses
        for path in files
        if (uses := private_sdk_uses(path.read_text()))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    ("object_name", "cls"),
    [
        ("customer", stripe.Customer),
        ("invoiceitem", stripe.InvoiceItem),
        ("line_item", stripe.InvoiceLineItem),
        ("item", stripe.LineItem),
        ("list", stripe.ListObject),
        ("search_result", stripe.SearchResultObject),
        ("checkout.session", stripe.checkout.Session),
        ("billing_portal.session", stripe.billing_portal.Session),
        ("test_helpers.test_clock", stripe.test_helpers.TestClock),
        ("entitlements.active_entitlement_summary", stripe.entitlements.ActiveEntitlementSummary),
        ("billing.meter_event_summary", stripe.billing.MeterEventSummary),
    ],
)
def test_resource_class_finds_the_public_class(object_name: str, cls: type) -> None:
    assert conformance.resource_class(object_name) is cls


def test_resource_class_refuses_unknown_objects() -> None:
    assert conformance.resource_class("not_a_resource") is None
    assert conformance.resource_class("checkout.not_a_resource") is None


def test_every_sample_object_with_a_sdk_class_is_found() -> None:
    """Stripe's sample objects name (nearly) every v1 resource; the lookup finds their classes."""
    names = set(conformance.fixtures())
    found = {name for name in names if conformance.resource_class(name) is not None}
    assert len(found) > 140, sorted(names - found)


def test_params_see_request_options_and_stripe_object_maps() -> None:
    # RequestOptions keys (api_key, idempotency_key, ...) are not form parameters.
    fields = params.schema_for("CustomerCreateParams").fields()
    assert "api_key" not in fields
    assert "idempotency_key" not in fields
    # `Dict[str, str] | UntypedStripeObject[str]` is a map of strings (or "" to unset).
    metadata = fields["metadata"]
    assert isinstance(metadata, params.OneOf)
    assert metadata.allow_empty
    assert all(o == params.MapOf(params.Scalar("str")) for o in metadata.options)
