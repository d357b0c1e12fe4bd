"""Changes to a live subscription: plan changes, pausing payments, seat quantities.

``plan_change`` previews and applies a change of plan, ``pause`` pauses and resumes
payment collection, ``seats`` keeps a per-seat plan's quantity on the team's members,
``views`` serves the plan-change and pause pages.
"""
