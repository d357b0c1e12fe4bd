"""`manage.py billing_replay`: process stored Stripe events again (after a fix)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from subscriptions.webhooks.pipeline import stripe_events_replay


class Command(BaseCommand):
    help = (
        "Replay stored Stripe events: --failed, --since ISO-TIME, --type TYPE, --event-id evt_..."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--failed", action="store_true", help="Only events marked failed.")
        parser.add_argument("--since", help="Only events received at or after this ISO time.")
        parser.add_argument("--type", dest="event_type", help="Only events of this type.")
        parser.add_argument("--event-id", action="append", dest="event_ids", default=[])
        parser.add_argument(
            "--inline", action="store_true", help="Process here instead of enqueuing to Celery."
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        since: datetime | None = None
        if opts["since"]:
            since = parse_datetime(opts["since"])
            if since is None:
                raise CommandError(f"--since: not an ISO date/time: {opts['since']!r}")
        if not (opts["failed"] or since or opts["event_type"] or opts["event_ids"]):
            raise CommandError("Say what to replay: --failed, --since, --type or --event-id.")
        replayed = stripe_events_replay(
            failed_only=opts["failed"],
            since=since,
            event_type=opts["event_type"],
            event_ids=opts["event_ids"] or None,
            run_inline=opts["inline"],
        )
        for stripe_id in replayed:
            self.stdout.write(f"  {stripe_id}")
        verb = "processed" if opts["inline"] else "queued"
        self.stdout.write(self.style.SUCCESS(f"{len(replayed)} event(s) {verb}."))
