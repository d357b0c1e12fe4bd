"""dj-stripe without Stripe secret keys in the database.

dj-stripe links every object it mirrors to the Stripe account of the key that
fetched it (``djstripe_owner_account``). To find that account it stores the
key, in plain text, in its ``APIKey`` table (``Account.get_or_retrieve_for_api_key``,
called on every sync). Our keys come from the environment (``STRIPE_SECRET_KEY``),
so the account is looked up with the key and only the account is stored; the
key-to-account link lives in this process's memory. With no ``APIKey`` row,
dj-stripe uses the key from the settings wherever it needs one
(``djstripe_settings.get_default_api_key``), which is what we want anyway.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

logger = logging.getLogger(__name__)

# sha256 of a secret key -> the id of its Stripe account, for this process.
_account_ids: dict[str, str] = {}
_lock = threading.Lock()


def _fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def account_for_api_key(cls: Any, api_key: str) -> Any:
    """``Account.get_or_retrieve_for_api_key`` that stores the account, never the key."""
    fingerprint = _fingerprint(api_key)
    with _lock:
        account_id = _account_ids.get(fingerprint)
    if account_id is not None:
        account = cls.objects.filter(id=account_id).first()
        if account is not None:
            return account
    from djstripe.settings import djstripe_settings

    data = cls.stripe_class.retrieve(
        api_key=api_key, stripe_version=djstripe_settings.STRIPE_API_VERSION
    )
    # A stub first, as dj-stripe does: syncing the account looks up its owner
    # account, which is itself, through this function again.
    account, created = cls.objects.get_or_create(id=data["id"])
    with _lock:
        _account_ids[fingerprint] = account.id
    if created:
        account = cls.sync_from_stripe_data(data, api_key=api_key)
        logger.info("stripe account %s mirrored", account.id)
    return account


def account_lookup_install() -> None:
    """Make dj-stripe find accounts with ``account_for_api_key`` (AppConfig.ready)."""
    from djstripe.models import Account

    Account.get_or_retrieve_for_api_key = classmethod(account_for_api_key)
