"""Money going back: disputes (chargebacks and inquiries) and the refunds staff make.

``disputes`` reads open disputes and submits evidence, ``refunds`` creates staff refunds
with their audit rows, ``admin`` shows both in the Django admin.
"""
