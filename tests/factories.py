"""factory_boy factories shared by the suite."""

from __future__ import annotations

from typing import Any

import factory
from allauth.account.models import EmailAddress

from accounts.models import User
from teams.services import team_personal_ensure


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def verified(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        """Verified unless built with ``verified=False``."""
        if create:
            EmailAddress.objects.create(
                user=self, email=self.email, primary=True, verified=extracted is not False
            )

    @factory.post_generation
    def personal_team(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        """Every user has a personal team, as signup gives them."""
        if create:
            team_personal_ensure(user=self)  # type: ignore[arg-type]


def make_user(*, verified: bool = True, **fields: Any) -> User:
    """A saved user with a primary EmailAddress (typed wrapper around the factory)."""
    user: User = UserFactory(verified=verified, **fields)  # type: ignore[assignment]
    return user
