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

# Sent inside the transaction that adds or removes a member (accepting an invitation,
# leaving, being removed), so a receiver's work commits or rolls back with it: billing
# counts the seats of a per-seat plan. Arguments: ``team_id``, ``reason``.
membership_changed = Signal()

# Sent by ``services.invitation_create`` before an invitation is stored, with ``send``
# so a receiver may refuse it by raising ``services.TeamError`` with a message for the
# user (billing refuses one beyond a per-seat plan's maximum). Arguments: ``team``.
invitation_creating = Signal()
