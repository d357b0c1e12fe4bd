"""Create a development superuser once, printing its generated password."""

from __future__ import annotations

import secrets
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User


class Command(BaseCommand):
    help = "Create admin@example.com with a random password if no superuser exists (DEBUG only)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--email", default="admin@example.com")

    def handle(self, *args: Any, email: str, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("ensure_dev_admin only runs with DEBUG on.")
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("A superuser already exists; not creating one.")
            return
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser(email=email, password=password)
        # Verified, so the allauth-protected admin login accepts it.
        EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created development admin\n  email:    {email}\n  password: {password}\n"
                "  (printed once; reset with `manage.py changepassword`)"
            )
        )
