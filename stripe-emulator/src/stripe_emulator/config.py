"""Settings shared by every part of the emulator."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .versions import RELEASED_VERSIONS

# The account's API version: requests without `Stripe-Version`, and events
# for endpoints without `api_version`, are rendered in it (as Stripe uses the
# account default). Every released version in versions.RELEASED_VERSIONS is
# accepted and rendered in its own shape (versions.py).
DEFAULT_API_VERSION = "2026-05-27.dahlia"
ACCEPTED_API_VERSIONS: frozenset[str] = frozenset(RELEASED_VERSIONS)

DEFAULT_PORT = 12111
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
# Stripe test mode retries "3 times over a few hours"; compressed so that a
# failing endpoint is visible within a minute or two of local work.
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (5.0, 30.0, 120.0)


def _env_schedule() -> tuple[float, ...]:
    raw = os.environ.get("STRIPE_EMULATOR_WEBHOOK_RETRY_SCHEDULE", "")
    return parse_schedule(raw) if raw.strip() else DEFAULT_RETRY_SCHEDULE


def _env_float(name: str) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else 0.0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def parse_schedule(raw: str) -> tuple[float, ...]:
    """Parse "1,5,30" into delays in seconds between delivery attempts."""
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    values = tuple(float(p) for p in parts)
    if any(v < 0 for v in values):
        raise ValueError("retry delays must be >= 0")
    return values


@dataclass
class EmulatorConfig:
    """Runtime knobs; every field has a CLI flag or environment variable."""

    webhook_retry_schedule: tuple[float, ...] = field(default_factory=_env_schedule)
    webhook_timeout: float = float(os.environ.get("STRIPE_EMULATOR_WEBHOOK_TIMEOUT", "10"))
    webhook_workers: int = 4
    # Objects in list and search responses; Stripe caps `limit` at 100.
    max_list_limit: int = 100
    # Base of the URLs the emulator hands out (checkout/portal/invoice pages);
    # default: the address it listens on (127.0.0.1 when bound to 0.0.0.0).
    public_url: str = field(
        default_factory=lambda: os.environ.get("STRIPE_EMULATOR_PUBLIC_URL", "").rstrip("/")
    )
    # The account's business name (Dashboard: Settings > Public details), shown
    # by the hosted pages; POST /_emulator/account changes it at run time.
    business_name: str = field(
        default_factory=lambda: os.environ.get("STRIPE_EMULATOR_BUSINESS_NAME", "").strip()
    )
    # Added latency per API request (limits.py): a log-normal with this median
    # and 99th percentile, in milliseconds; 0 = off. p99 defaults to p50.
    latency_p50_ms: float = field(
        default_factory=lambda: _env_float("STRIPE_EMULATOR_LATENCY_P50_MS")
    )
    latency_p99_ms: float = field(
        default_factory=lambda: _env_float("STRIPE_EMULATOR_LATENCY_P99_MS")
    )
    # Stripe's rate limits (limits.py): requests per second per secret key,
    # 0 = off (Stripe: 25 in test mode, 100 in live mode). When on, each
    # endpoint also has its own limit (Stripe: 25 per second) and search 20.
    rate_limit: int = field(default_factory=lambda: _env_int("STRIPE_EMULATOR_RATE_LIMIT", 0))
    endpoint_rate_limit: int = field(
        default_factory=lambda: _env_int("STRIPE_EMULATOR_ENDPOINT_RATE_LIMIT", 25)
    )

    def latency_percentiles(self) -> tuple[float, float]:
        """(p50, p99) in ms; p99 is at least p50 (a fixed delay when not given)."""
        p50 = max(0.0, self.latency_p50_ms)
        return p50, max(p50, self.latency_p99_ms)
