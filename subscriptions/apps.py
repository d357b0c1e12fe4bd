from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "subscriptions"
    verbose_name = "Subscriptions"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save
        from djstripe.models import Price

        from teams.signals import (
            invitation_creating,
            membership_changed,
            membership_joining,
            team_deleting,
        )

        from . import checks, receivers  # noqa: F401  (checks registers the system checks)
        from .dunning.receivers import on_billing_event_processed
        from .signals import billing_event_processed
        from .stripe_account import account_lookup_install
        from .webhooks.customers import customer_lookups_install
        from .webhooks.mirror import payload_first_install

        billing_event_processed.connect(
            on_billing_event_processed, dispatch_uid="subscriptions.dunning.recovered_revenue"
        )
        account_lookup_install()  # keeps Stripe secret keys out of dj-stripe's APIKey table
        payload_first_install()  # dj-stripe's reads of an event's object follow its payload
        customer_lookups_install()  # one read of the customer's row per event
        team_deleting.connect(receivers.on_team_deleting, dispatch_uid="subscriptions_cancel")
        membership_changed.connect(
            receivers.on_membership_changed, dispatch_uid="subscriptions_seats"
        )
        invitation_creating.connect(
            receivers.on_invitation_creating, dispatch_uid="subscriptions_seat_limit"
        )
        membership_joining.connect(
            receivers.on_membership_joining, dispatch_uid="subscriptions_seat_limit_join"
        )
        for mirrored in (post_save, post_delete):
            mirrored.connect(
                receivers.on_price_mirrored, sender=Price, dispatch_uid="subscriptions_prices"
            )
