"""Signals the teams app sends; apps above it (billing) connect to them.

``teams`` never imports the apps that react: they connect in their ``AppConfig.ready``.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent by ``services.team_delete`` before the team is deleted, outside any transaction,
# with ``send`` (not ``send_robust``) so a receiver's exception stops the deletion.
# A receiver that must end something elsewhere first (billing cancels the team's Stripe
# subscriptions) does it here and raises ``services.TeamDeleteRefused`` to keep the team.
# Arguments: ``team``.
team_deleting = Signal()
