"""Dunning: getting the money of failed payments back.

``selectors`` reads the mirror (the team's open invoice, default cards about to
expire, recovered revenue, the retention offer); ``services`` writes (pay now
with the saved card, cancel with a reason, accept the retention coupon, record
how a failed invoice was finally paid). The notifications about each occasion
live in ``notifications.services``; this package never imports that app.
"""
