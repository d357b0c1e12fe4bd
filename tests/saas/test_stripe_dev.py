"""`make run`'s emulator process (saas/devtools/stripe_dev.py)."""

from __future__ import annotations

from django.conf import settings

from saas.devtools import stripe_dev


def test_emulator_names_the_business_site_name() -> None:
    args = stripe_dev.emulator_args()
    assert args[args.index("--business-name") + 1] == settings.SITE_NAME
    assert args[1:3] == ["-m", "stripe_emulator"]
