"""Settings of the kit before teams: the user is dj-stripe's subscriber.

Used only by ``test_migration.py`` to build a database the way it was before the
customer became the team (in a subprocess: dj-stripe reads these at import).
"""

from saas.settings.test import *  # noqa: F403
from saas.settings.test import AUTH_USER_MODEL

DJSTRIPE_SUBSCRIBER_MODEL = AUTH_USER_MODEL
DJSTRIPE_SUBSCRIBER_MODEL_MIGRATION_DEPENDENCY = "__first__"
DJSTRIPE_SUBSCRIBER_CUSTOMER_KEY = "djstripe_subscriber"
