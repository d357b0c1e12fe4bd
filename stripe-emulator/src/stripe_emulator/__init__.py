"""Offline, stateful Stripe API emulator (API versions 2026-05-27.dahlia to 2026-10-28.endive).

from stripe_emulator import EmulatorServer
srv = EmulatorServer(port=0, data=":memory:").start()
...  # point stripe at srv.url
srv.stop()
"""

from __future__ import annotations

from .app import Emulator
from .config import ACCEPTED_API_VERSIONS, DEFAULT_API_VERSION, EmulatorConfig
from .response import Response
from .server import EmulatorServer

__all__ = [
    "ACCEPTED_API_VERSIONS",
    "DEFAULT_API_VERSION",
    "Emulator",
    "EmulatorConfig",
    "EmulatorServer",
    "Response",
]
