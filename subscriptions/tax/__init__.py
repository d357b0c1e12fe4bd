"""Tax: Stripe Tax in Checkout (``tax``) and the team's tax IDs (``tax_ids``, ``views``)."""
