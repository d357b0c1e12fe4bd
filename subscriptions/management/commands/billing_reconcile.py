"""`manage.py billing_reconcile [--dry-run]`: fix drift between the mirror and Stripe."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from subscriptions.reports.reconcile import billing_reconcile


class Command(BaseCommand):
    help = "Re-read non-final subscriptions from Stripe and re-sync those that drifted."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Report without fixing.")

    def handle(self, *args: Any, dry_run: bool, **opts: Any) -> None:
        report = billing_reconcile(dry_run=dry_run)
        for line in report.fixed:
            self.stdout.write(f"  {'would fix' if dry_run else 'fixed'} {line}")
        for line in report.errors:
            self.stderr.write(f"  error {line}")
        self.stdout.write(
            f"{report.customers_checked} customer(s), {report.subscriptions_checked} "
            f"subscription(s) checked; {len(report.fixed)} drifted; {len(report.errors)} error(s)."
        )
