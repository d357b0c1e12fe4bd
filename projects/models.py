"""The demo app's data: projects (counted against the plan's quota) and API tokens."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class Project(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects"
    )
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), max_length=2000, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        # Oldest first: the quota keeps the oldest projects editable after a downgrade.
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                "owner", Lower("name"), name="projects_project_unique_name_per_owner"
            ),
        ]
        indexes = [models.Index(fields=["owner", "created_at"], name="projects_owner_created_idx")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("project_edit", kwargs={"pk": self.pk})


class ApiToken(models.Model):
    """A user's personal API token. Only a hash of the secret is stored."""

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token"
    )
    # The first characters of the token, shown so the user can recognise it.
    prefix = models.CharField(max_length=16)
    # SHA-256 hex digest of the whole token; tokens are random, so no slow hash is needed.
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.owner_id})"
