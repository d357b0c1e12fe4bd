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


if __name__ == "__main__":
    sys.exit(main())
