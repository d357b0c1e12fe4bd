"""Who may impersonate whom (``HIJACK_PERMISSION_CHECK``)."""

from __future__ import annotations

from typing import Any

IMPERSONATE_PERMISSION = "support.impersonate_user"


def impersonation_allowed(*, hijacker: Any, hijacked: Any) -> bool:
    """Superusers, or active staff holding ``support.impersonate_user``.

    Nobody impersonates an inactive user or themselves, and only a superuser may
    impersonate staff or superusers: a support permission must not open an
    administrator's account.
    """
    if hijacked is None or not hijacked.is_active or hijacked.pk == hijacker.pk:
        return False
    if not (hijacker.is_active and hijacker.is_staff):
        return False
    if hijacker.is_superuser:
        return True
    if hijacked.is_staff or hijacked.is_superuser:
        return False
    return bool(hijacker.has_perm(IMPERSONATE_PERMISSION))
