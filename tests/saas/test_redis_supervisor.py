"""The ``redis`` process of ``make run`` outlives redis-server and says what happened to it.

honcho stops every process when one exits: if the dev Redis process ended with
redis-server, stopping Redis would take the web server, the worker, the
emulator and Flower down too. Runs the supervisor on a private port and data
directory, never the dev Redis on 6380 or the system one.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from saas.devtools.redis_server import free_port, wait_for_redis

BASE_DIR = Path(__file__).resolve().parent.parent.parent
SUPERVISE = (
    "import sys; from pathlib import Path; from saas.devtools.redis_server import supervise;"
    " sys.exit(supervise(port=int(sys.argv[1]), data_dir=Path(sys.argv[2]), persist=False,"
    " first_backoff=0.2))"
)


class Supervisor:
    def __init__(self, port: int, data_dir: Path) -> None:
        self.port = port
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SUPERVISE, str(port), str(data_dir)],
            cwd=BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def said(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if text in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"supervisor never said {text!r}; it said: {self.lines}")

    def redis_pid(self) -> int:
        wait_for_redis(self.port, timeout=15)
        info = redis.Redis(port=self.port, socket_timeout=2).info("server")
        return int(info["process_id"])


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    running = Supervisor(free_port(), tmp_path / "redis")
    yield running
    if running.proc.poll() is None:
        running.proc.kill()
        running.proc.wait()


@pytest.mark.timeout(90)
def test_redis_supervisor_restarts_redis_and_says_why(supervisor: Supervisor) -> None:
    first = supervisor.redis_pid()

    # A raw SHUTDOWN: redis-py would retry it on the restarted server.
    with socket.create_connection(("127.0.0.1", supervisor.port), timeout=2) as sock:
        sock.sendall(b"SHUTDOWN NOSAVE\r\n")
        sock.recv(64)  # the server closes the connection as it exits
    supervisor.said(f"redis-server pid {first} exited with code 0")
    supervisor.said("restarting redis-server in")
    second = supervisor.redis_pid()  # answers again, on the same port
    assert second != first
    assert supervisor.proc.poll() is None  # honcho would have stopped everything

    os.kill(second, signal.SIGKILL)
    supervisor.said(f"redis-server pid {second} was killed by SIGKILL")
    third = supervisor.redis_pid()

    os.kill(third, signal.SIGSTOP)
    supervisor.said(f"redis-server pid {third} is stopped (SIGSTOP)")
    os.kill(third, signal.SIGCONT)
    supervisor.said(f"redis-server pid {third} continues")

    supervisor.proc.send_signal(signal.SIGTERM)  # what honcho sends on Ctrl-C
    assert supervisor.proc.wait(timeout=15) == 0
    supervisor.said("redis-server stopped")
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=supervisor.port, socket_timeout=2).ping()


@pytest.mark.timeout(60)
def test_redis_supervisor_stops_a_frozen_redis(supervisor: Supervisor) -> None:
    pid = supervisor.redis_pid()
    os.kill(pid, signal.SIGSTOP)
    supervisor.said("is stopped")

    supervisor.proc.send_signal(signal.SIGTERM)
    assert supervisor.proc.wait(timeout=15) == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone, not left stopped behind
