"""`python -m stripe_emulator`: serve the emulator until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys

from .config import DEFAULT_PORT, EmulatorConfig, parse_schedule
from .server import EmulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stripe_emulator", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("STRIPE_EMULATOR_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("STRIPE_EMULATOR_PORT", DEFAULT_PORT))
    )
    parser.add_argument(
        "--data",
        default=os.environ.get("STRIPE_EMULATOR_DATA", "var/stripe_emulator.sqlite3"),
        help="SQLite file for state, or :memory:",
    )
    parser.add_argument("--reset", action="store_true", help="wipe the state file first")
    parser.add_argument(
        "--webhook-retry-schedule",
        default=None,
        help="seconds between delivery retries, e.g. 1,5,30 "
        "(env STRIPE_EMULATOR_WEBHOOK_RETRY_SCHEDULE)",
    )
    parser.add_argument("--webhook-timeout", type=float, default=None)
    parser.add_argument(
        "--business-name",
        default=None,
        help="the account's business name shown on hosted pages "
        "(env STRIPE_EMULATOR_BUSINESS_NAME; default Stripe Emulator)",
    )
    parser.add_argument(
        "--latency-p50-ms",
        type=float,
        default=None,
        help="added latency per API request, median in ms (env STRIPE_EMULATOR_LATENCY_P50_MS; "
        "0 = off)",
    )
    parser.add_argument(
        "--latency-p99-ms",
        type=float,
        default=None,
        help="99th percentile of the added latency in ms (env STRIPE_EMULATOR_LATENCY_P99_MS; "
        "a log-normal is fitted to p50 and p99)",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        help="requests per second per secret key, as Stripe's 25 (test) or 100 (live); "
        "0 = off (env STRIPE_EMULATOR_RATE_LIMIT)",
    )
    parser.add_argument(
        "--endpoint-rate-limit",
        type=int,
        default=None,
        help="requests per second per key and endpoint while --rate-limit is on "
        "(env STRIPE_EMULATOR_ENDPOINT_RATE_LIMIT; default 25, as Stripe)",
    )
    parser.add_argument("--log-level", default=os.environ.get("STRIPE_EMULATOR_LOG", "INFO"))
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    config = EmulatorConfig()
    if args.webhook_retry_schedule is not None:
        config.webhook_retry_schedule = parse_schedule(args.webhook_retry_schedule)
    if args.webhook_timeout is not None:
        config.webhook_timeout = args.webhook_timeout
    if args.business_name is not None:
        config.business_name = args.business_name.strip()
    _apply_limit_flags(config, args)
    if args.data != ":memory:":
        directory = os.path.dirname(os.path.abspath(args.data))
        os.makedirs(directory, exist_ok=True)
        if args.reset:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(args.data + suffix):
                    os.remove(args.data + suffix)
    server = EmulatorServer(args.host, args.port, args.data, config)
    print(server.url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def _apply_limit_flags(config: EmulatorConfig, args: argparse.Namespace) -> None:
    """Latency and rate-limit flags override the environment (config.py)."""
    if args.latency_p50_ms is not None:
        config.latency_p50_ms = args.latency_p50_ms
    if args.latency_p99_ms is not None:
        config.latency_p99_ms = args.latency_p99_ms
    if args.rate_limit is not None:
        config.rate_limit = args.rate_limit
    if args.endpoint_rate_limit is not None:
        config.endpoint_rate_limit = args.endpoint_rate_limit
    p50, p99 = config.latency_percentiles()
    if config.latency_p99_ms and config.latency_p99_ms < config.latency_p50_ms:
        raise SystemExit("--latency-p99-ms must be at least --latency-p50-ms")
    if p50 or config.rate_limit:
        logging.getLogger(__name__).info(
            "latency p50 %.0f ms p99 %.0f ms; rate limit %s/s per key, %s/s per endpoint",
            p50,
            p99,
            config.rate_limit or "off",
            config.endpoint_rate_limit if config.rate_limit else "off",
        )


if __name__ == "__main__":
    sys.exit(main())
