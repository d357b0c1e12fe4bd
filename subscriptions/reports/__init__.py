"""Reports for staff: the billing-health page and the reconciliation of the mirror.

``health`` reads (nothing there writes), ``reconcile`` compares the mirror with Stripe
and fixes drift, ``views`` serves the staff pages.
"""
