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

# Sent by ``services.invitation_create`` inside the transaction that stores the
# invitation, after the team row is locked (``select_for_update``), with ``send`` so a
# receiver may refuse it by raising ``services.TeamError`` with a message for the user
# (billing refuses one beyond a per-seat plan's maximum). What a receiver counts there
# cannot change before the invitation is stored: a second invitation to the same team
# waits for the lock. Arguments: ``team``.
invitation_creating = Signal()

# Sent by ``services.invitation_accept`` inside its transaction, after the team row is
# locked, before a new member is added; a receiver may refuse by raising
# ``services.TeamError`` (billing refuses a member beyond a per-seat plan's maximum,
# which invitations made before a smaller plan could otherwise reach). Arguments: ``team``.
membership_joining = Signal()
