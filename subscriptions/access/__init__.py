"""Access: what a team may use right now, and the views' gates on it.

``access`` computes and caches the team's ``Access`` (keyed by its billing version),
``policy`` says whether a subscription in a given state grants access, ``gating`` puts
``request.access`` on requests and guards views, and ``billing_status`` explains the
team's plan on its billing page.
"""
