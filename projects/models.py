"""The demo app's data: projects (counted against the plan's quota) and API tokens."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class Project(models.Model):
    # Projects belong to a team and count against the team's plan.
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="projects")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="projects_created",
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
                "team", Lower("name"), name="projects_project_unique_name_per_team"
            ),
        ]
        indexes = [models.Index(fields=["team", "created_at"], name="projects_team_created_idx")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("project_edit", kwargs={"team_slug": self.team.slug, "pk": self.pk})


class ApiToken(models.Model):
    """A team's API token: it acts for that team only. Only a hash of the secret is stored."""

    team = models.OneToOneField("teams.Team", on_delete=models.CASCADE, related_name="api_token")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="api_tokens_created",
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
        return f"{self.prefix}… (team {self.team_id})"
