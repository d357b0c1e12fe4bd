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
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

logger = logging.getLogger(__name__)

# sha256 of a secret key -> the id of its Stripe account, for this process.
_account_ids: dict[str, str] = {}
_lock = threading.Lock()


# While one event is processed, the account found for a key (dj-stripe looks it
# up for every object it mirrors: three or four times per event).
_event_accounts: ContextVar[dict[str, Any] | None] = ContextVar("event_accounts", default=None)


@contextmanager
def account_lookups_shared() -> Iterator[None]:
    """Within this block (one event's transaction) an account is looked up once per key.

    Not longer: a row cached across transactions could be one that a rollback
    removed, and an object linked to it would then fail its foreign key.
    """
    token = _event_accounts.set({})
    try:
        yield
    finally:
        _event_accounts.reset(token)


def _fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def account_for_api_key(cls: Any, api_key: str) -> Any:
    """``Account.get_or_retrieve_for_api_key`` that stores the account, never the key."""
    fingerprint = _fingerprint(api_key)
    shared = _event_accounts.get()
    if shared is not None and fingerprint in shared:
        return shared[fingerprint]
    account = _account_lookup(cls, api_key, fingerprint)
    if shared is not None:
        shared[fingerprint] = account
    return account


def _account_lookup(cls: Any, api_key: str, fingerprint: str) -> Any:
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


def account_default_api_key(self: Any, livemode: bool | None = None) -> str:
    """``Account.get_default_api_key`` without its query of the ``APIKey`` table.

    dj-stripe looks for a stored secret key of the account first (two or three
    queries per mirrored event) and falls back to the settings' key. No secret
    or restricted key is ever stored here (``account_for_api_key``, migration
    0007, the admin has no APIKey page), so the fallback is the answer.
    """
    from djstripe.settings import djstripe_settings

    return str(
        djstripe_settings.get_default_api_key(self.livemode if livemode is None else livemode)
    )


def _model_default_api_key(self: Any) -> str:
    """``StripeModel.default_api_key``: the settings' key for the object's mode.

    dj-stripe loads the owner account (a query) to ask it for its stored key;
    with none stored the answer depends only on livemode.
    """
    from djstripe.settings import djstripe_settings

    return str(djstripe_settings.get_default_api_key(self.livemode))


def account_lookup_install() -> None:
    """Make dj-stripe find accounts with ``account_for_api_key`` (AppConfig.ready)."""
    from djstripe.models import Account
    from djstripe.models.base import StripeModel

    Account.get_or_retrieve_for_api_key = classmethod(account_for_api_key)
    Account.get_default_api_key = account_default_api_key
    StripeModel.default_api_key = property(_model_default_api_key)
