from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from .services import site_sync_after_migrate

        # After migrate rather than in a data migration: a migration runs once, but
        # SITE_URL/SITE_NAME differ per environment and may change later.
        post_migrate.connect(site_sync_after_migrate, sender=self)
