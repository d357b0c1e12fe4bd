"""Delete the Stripe secret keys that dj-stripe stored in its APIKey table.

Keys come from the environment; since subscriptions/stripe_account.py dj-stripe
no longer stores them, so the ones it stored before are removed here.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.models import Q


def forget_secret_keys(apps: Any, schema_editor: Any) -> None:
    APIKey = apps.get_model("djstripe", "APIKey")
    # Publishable keys (pk_...) are public and stay.
    stored_secrets = Q(type__in=["secret", "restricted"])
    for prefix in ("sk_", "rk_"):
        stored_secrets |= Q(secret__startswith=prefix)
    APIKey.objects.filter(stored_secrets).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("djstripe", "0003_2_11"),
        ("subscriptions", "0006_duplicatesubscription"),
    ]

    operations = [migrations.RunPython(forget_secret_keys, migrations.RunPython.noop)]
