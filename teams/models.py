"""Teams: the billing customer. Members with roles, and email-bound invitations."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100)
    # The team's place in URLs: /t/<slug>/...
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    # The billing email: the Stripe customer's email (dj-stripe reads ``email``) and a
    # recipient of billing emails besides the owners and admins.
    email = models.EmailField(_("billing email"), blank=True)
    # Set on the team every user gets at signup; a personal team is never deleted or left.
    personal_for = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="personal_team",
    )
    # Bumped whenever the team's billing may have changed (subscriptions.access.access); the
    # access cache is keyed by it, so loading the team says which cached answer is current.
    billing_version = models.PositiveBigIntegerField(default=0, editable=False)
    # Per-seat plans (subscriptions/changes/seats.py): the quantity the owner chose (at
    # checkout, "buy seats" or in the portal). The paid quantity never goes below it:
    # quantity = max(members, seats_purchased, plan minimum).
    seats_purchased = models.PositiveIntegerField(_("seats bought"), default=0)
    # The quantity the app last set in Stripe; a different quantity found there was
    # set in the portal and becomes the new ``seats_purchased``. None: never synced.
    seats_quantity_synced = models.PositiveIntegerField(null=True, blank=True, editable=False)
    # Bumped by every membership change: the seat sync's idempotency key and its
    # "a newer change is queued" test.
    seat_version = models.PositiveBigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("team_settings", kwargs={"team_slug": self.slug})

    @property
    def is_personal(self) -> bool:
        return self.personal_for_id is not None

    def get_full_name(self) -> str:
        """The customer name dj-stripe's ``Customer.create`` asks the subscriber for."""
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        ADMIN = "admin", _("Admin")
        MEMBER = "member", _("Member")

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(_("joined"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        ordering = ["team", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="teams_membership_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.team_id} ({self.role})"

    @property
    def manages_billing(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


class Invitation(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    # Only a user whose verified email is this address can accept.
    email = models.EmailField(_("email"))
    role = models.CharField(
        _("role"), max_length=10, choices=Membership.Role.choices, default=Membership.Role.MEMBER
    )
    # SHA-256 of the token sent by email; the token itself is never stored.
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    declined_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        ordering = ["-created_at", "-id"]
        constraints = [
            # One open invitation per address and team: resending reuses it.
            models.UniqueConstraint(
                "team",
                "email",
                condition=Q(
                    accepted_at__isnull=True, declined_at__isnull=True, revoked_at__isnull=True
                ),
                name="teams_invitation_one_open_per_email",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.team_id}"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.declined_at is None and self.revoked_at is None

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()
