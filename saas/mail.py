"""Development email: each message as one log record instead of raw text on stdout.

Django's console backend prints to stdout, and the Celery worker turns
stdout into WARNING lines (``worker_redirect_stdouts_level``), so every
notification email looked like a problem. This backend logs each message
once, at INFO, on the ``saas.mail`` logger, with what a developer needs
(recipients, subject, the plain-text body with its links). It is only used
for ``EMAIL_URL=consolemail://``, the development default.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger(__name__)


class LoggingEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = 0
        for message in email_messages:
            if not message.recipients():
                continue
            logger.info(
                "email (not sent, EMAIL_URL is consolemail://) to=%s subject=%r\n%s",
                ", ".join(message.recipients()),
                str(message.subject),
                message.body,
            )
            sent += 1
        return sent
