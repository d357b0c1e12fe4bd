"""Where the stripe SDK sends requests: every one of its base URLs at once.

The SDK has four bases (API, Connect OAuth, file uploads, meter event
streams), module-level ones for resource classes and defaults that a bare
``stripe.StripeClient(key)`` copies, which ignore the module-level ones.
dj-stripe builds such a client for Accounts v2 (``AccountV2._v2_accounts``),
so pointing only ``stripe.api_base`` at the emulator would send that call to
api.stripe.com. In emulator mode every base goes to the emulator.
"""

from __future__ import annotations

import stripe
from stripe import _stripe_client

# stripe.<name> read by resource classes and the global requestor.
_MODULE_BASES = ("api_base", "connect_api_base", "upload_api_base", "meter_events_api_base")
# Defaults a StripeClient without `base_addresses` uses; stripe._stripe_client
# imported them by name, so they are rebound there.
_CLIENT_DEFAULTS = (
    "DEFAULT_API_BASE",
    "DEFAULT_CONNECT_API_BASE",
    "DEFAULT_UPLOAD_API_BASE",
    "DEFAULT_METER_EVENTS_API_BASE",
)

StripeBases = dict[str, str]


def stripe_bases_route(*, base: str) -> StripeBases:
    """Send every SDK request, from any client, to ``base``; returns the previous bases."""
    missing = [name for name in _CLIENT_DEFAULTS if not hasattr(_stripe_client, name)]
    if missing:
        # A new SDK moved its defaults: fail loudly rather than reach Stripe.
        raise RuntimeError(f"stripe._stripe_client no longer defines {', '.join(missing)}")
    saved = {name: getattr(stripe, name) for name in _MODULE_BASES}
    saved.update({name: getattr(_stripe_client, name) for name in _CLIENT_DEFAULTS})
    for name in _MODULE_BASES:
        setattr(stripe, name, base)
    for name in _CLIENT_DEFAULTS:
        setattr(_stripe_client, name, base)
    return saved


def stripe_bases_restore(*, saved: StripeBases) -> None:
    """Put back the bases ``stripe_bases_route`` returned."""
    for name, value in saved.items():
        setattr(_stripe_client if name in _CLIENT_DEFAULTS else stripe, name, value)
