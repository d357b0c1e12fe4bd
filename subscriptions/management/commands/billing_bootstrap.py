"""`manage.py billing_bootstrap [--dry-run]`: make Stripe match subscriptions/catalog.toml."""

from __future__ import annotations

from typing import Any

import stripe
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from subscriptions.bootstrap import billing_bootstrap


class Command(BaseCommand):
    help = "Create or update Stripe products, prices, features, portal and webhook endpoint."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Show what would change.")
        parser.add_argument("--site-url", default=None, help="Defaults to SITE_URL.")

    def handle(self, *args: Any, dry_run: bool, site_url: str | None, **options: Any) -> None:
        target = settings.STRIPE_API_BASE or "Stripe"
        mode = "live" if settings.STRIPE_LIVE_MODE else "test"
        self.stdout.write(f"Catalog -> {target} ({mode} mode){' [dry run]' if dry_run else ''}")
        try:
            result = billing_bootstrap(dry_run=dry_run, site_url=site_url)
        except stripe.APIConnectionError as exc:
            raise CommandError(f"Cannot reach {target}: {exc.user_message or exc}") from exc
        except stripe.StripeError as exc:
            raise CommandError(f"Stripe refused a request: {exc.user_message or exc}") from exc
        for change in result.changes:
            self.stdout.write(f"  {change}")
        if not result.changes:
            self.stdout.write(self.style.SUCCESS("Nothing to change: Stripe matches the catalog."))
        elif dry_run:
            self.stdout.write(self.style.WARNING(f"{len(result.changes)} change(s) not applied."))
        else:
            self.stdout.write(self.style.SUCCESS(f"{len(result.changes)} change(s) applied."))
        if result.entitlements_refreshed:
            self.stdout.write(
                f"Features changed: entitlements re-read and access recomputed for "
                f"{len(result.entitlements_refreshed)} subscribed customer(s)."
            )
        if result.webhook_url:
            self.stdout.write(f"Webhook endpoint: {result.webhook_url}")
