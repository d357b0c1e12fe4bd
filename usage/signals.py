"""Signals of the usage app; other apps (notifications) connect to them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent once a team's usage of a meter reached ``percent`` (80 or 100) of ``threshold``
# in the period starting ``period_start``; kwargs: team_id, meter, percent, used,
# threshold, threshold_kind ("included" or "hard_limit"), period_start, key (unique
# per team, meter, period, kind and percent: receivers use it to act once).
usage_threshold_reached = Signal()
